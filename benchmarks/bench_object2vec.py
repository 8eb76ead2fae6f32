"""Object2Vec benchmark: a 1 MB MultiRecord JSON Lines request end to end, split into codec
time (decode the request + encode the response) and model time (the PyTorch reference
scorer), against plain orjson parsing of the same payload.

Run from the repository root::

    python -m benchmarks.bench_object2vec                 # full run on the CPU (about a minute)
    python -m benchmarks.bench_object2vec --quick         # tiny smoke pass (seconds)
    python -m benchmarks.bench_object2vec --device cuda   # the model on a GPU
    python -m benchmarks.bench_object2vec --json benchmarks/results/object2vec.json

The request is what Batch Transform sends with ``SplitType=Line``,
``BatchStrategy=MultiRecord`` and ``MaxPayloadInMB=1``: as many whole lines of
``{"in0": [...], "in1": [...]}`` instances as fit in 2**20 bytes, built with
`sm_payloads.batch.mini_batches`. Token lists have the lengths of the examples on the AWS
page "Data Formats for Object2Vec Inference" (in0 3 to 25 ids, in1 3 to 12, ids below
20,000). Everything runs in one process; each contender is
timed with ``timeit`` (best of ``--repeat`` interleaved runs of an auto-ranged loop).
``x orjson`` is the contender's time over the time of ``orjson.loads`` of every line of the
same payload (the least any JSON Lines decoder must do).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from typing import Any

import numpy as np
import orjson

import sm_payloads as smp
from sm_payloads import object2vec as o2v
from sm_payloads.formats import jsonlines as generic_jsonl

from ._harness import MB, Contender, fmt_rate, fmt_ratio, fmt_time, time_contenders

MiB = 1 << 20
JSONL = "application/jsonlines"
VOCAB = 20_000


def make_request(max_bytes: int, seed: int = 0) -> bytes:
    """The first MultiRecord mini-batch of at most `max_bytes` of JSON Lines instances."""
    rng = np.random.default_rng(seed)
    lines: list[bytes] = []
    size = 0
    while size < 2 * max_bytes:
        a = rng.integers(0, VOCAB, rng.integers(3, 26)).tolist()
        b = rng.integers(0, VOCAB, rng.integers(3, 13)).tolist()
        line = json.dumps({"in0": a, "in1": b}).encode() + b"\n"
        lines.append(line)
        size += len(line)
    return next(smp.batch.mini_batches(lines, "MultiRecord", max_payload_bytes=max_bytes, split_type="Line"))


def hyperparameters(network: str) -> dict[str, Any]:
    return {
        "enc0_max_seq_len": 50,
        "enc1_max_seq_len": 50,
        "enc0_vocab_size": VOCAB,
        "enc0_network": network,
        "enc0_token_embedding_dim": 64,
        "enc_dim": 64,
        "mlp_layers": 2,
        "mlp_dim": 64,
        "mlp_activation": "relu",
        "output_layer": "softmax",
        "num_classes": 3,
    }


@dataclasses.dataclass
class Result:
    network: str
    name: str
    role: str
    rows: int
    nbytes: int
    seconds: float
    number: int
    x_orjson: float | None = None

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["requests_per_s"] = 1.0 / self.seconds
        d["records_per_s"] = self.rows / self.seconds
        d["mb_per_s"] = self.nbytes / self.seconds / MB
        return d


def run(
    network: str, body: bytes, device: str, repeat: int, quick: bool
) -> tuple[list[Result], dict[str, Any]]:
    from sm_payloads.object2vec.torch import Object2VecScorer

    model = Object2VecScorer(hyperparameters(network), seed=0, device=device)
    batch = o2v.decode(body, JSONL)
    n = len(batch)
    response = model.score(batch)
    out = o2v.encode_response(response, JSONL)
    back = o2v.decode_response(out, JSONL, dtype="schema").label["scores"]
    assert np.array_equal(back, response.label["scores"])  # the round trip is exact
    lines = body.splitlines()

    def decode() -> Any:
        return o2v.decode(body, JSONL)

    def encode() -> Any:
        return o2v.encode_response(response, JSONL)

    def codec() -> Any:
        o2v.decode(body, JSONL)
        return o2v.encode_response(response, JSONL)

    def score() -> Any:
        return model.score(batch)

    def end_to_end() -> Any:
        return o2v.encode_response(model.score(o2v.decode(body, JSONL)), JSONL)

    def orjson_lines() -> Any:
        return [orjson.loads(line) for line in lines]

    def json_lines() -> Any:
        return [json.loads(line) for line in lines]

    def generic() -> Any:
        return generic_jsonl.decode(body)

    contenders = [
        Contender("end to end (decode + score + encode)", end_to_end, n, len(body), "ours"),
        Contender("codec: decode request + encode response", codec, n, len(body), "ours"),
        Contender("codec: decode request", decode, n, len(body), "ours"),
        Contender("codec: encode response", encode, n, len(out), "ours"),
        Contender(f"model: score ({device})", score, n, len(body), "ours"),
        Contender("orjson.loads per line", orjson_lines, n, len(body), "baseline"),
        Contender("json.loads per line (stdlib)", json_lines, n, len(body), "extra"),
        Contender("generic application/jsonlines decode (float64)", generic, n, len(body), "extra"),
    ]
    timed = time_contenders(contenders, repeat, quick)
    results = [
        Result(network, c.name, c.role, c.rows, c.nbytes, s, number)
        for c, (s, number) in zip(contenders, timed, strict=True)
    ]
    base = next(r for r in results if r.role == "baseline")
    for r in results:
        r.x_orjson = r.seconds / base.seconds
    info = {"records": n, "request_bytes": len(body), "response_bytes": len(out)}
    return results, info


def table(results: list[Result]) -> str:
    lines = [
        "| encoder | contender | records | time/request | requests/s | records/s | MB/s | x orjson (time) |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.network} | {r.name} | {r.rows:,} | {fmt_time(r.seconds)} | {1 / r.seconds:,.1f} | "
            f"{fmt_rate(r.rows / r.seconds)} | {r.nbytes / r.seconds / MB:,.0f} | {fmt_ratio(r.x_orjson)} |"
        )
    return "\n".join(lines)


def split_table(results: list[Result]) -> str:
    lines = [
        "| encoder | end to end | codec | model | codec share | codec / orjson parse |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for net in dict.fromkeys(r.network for r in results):
        rs = {r.name.split(" (")[0]: r for r in results if r.network == net}
        e2e = rs["end to end"].seconds
        codec = rs["codec: decode request + encode response"].seconds
        model = rs["model: score"].seconds
        parse = rs["orjson.loads per line"].seconds
        lines.append(
            f"| {net} | {fmt_time(e2e)} | {fmt_time(codec)} | {fmt_time(model)} | "
            f"{codec / e2e:.0%} | {fmt_ratio(codec / parse)} |"
        )
    return "\n".join(lines)


def environment(device: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "orjson": orjson.__version__,
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "sm_payloads": smp.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a 64 KiB request, one run each")
    p.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:1, ...")
    p.add_argument(
        "--networks", default="pooled_embedding,hcnn,bilstm", help="comma-separated encoders to time"
    )
    p.add_argument("--payload-mb", type=float, default=1.0, help="request size in MiB (default 1)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's own choice)"
    )
    p.add_argument("--json", metavar="FILE", help="write results as JSON")
    args = p.parse_args(argv)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("--device cuda: no CUDA device is available", file=sys.stderr)
            return 2
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    max_bytes = 64 * 1024 if args.quick else int(args.payload_mb * MiB)
    repeat = 1 if args.quick else args.repeat
    body = make_request(max_bytes)
    env = environment(args.device)
    print("sm_payloads Object2Vec benchmark")
    for k, v in env.items():
        print(f"  {k:<14} {v}")
    limit = f"MaxPayloadInMB={max_bytes / MiB:g}"
    print(f"  request        {len(body):,} bytes of JSON Lines (MultiRecord, {limit})\n")
    results: list[Result] = []
    infos: dict[str, Any] = {}
    for network in args.networks.split(","):
        r, info = run(network.strip(), body, args.device, repeat, args.quick)
        results += r
        infos[network] = info
    print(table(results))
    print()
    print(split_table(results))
    print()
    print("checks:", json.dumps(infos))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"environment": env, "results": [r.as_dict() for r in results], "checks": infos}, f, indent=2
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
