"""JSON / JSON Lines benchmark: sm_payloads vs the SageMaker Python SDK vs plain orjson / json.

Run from the repository root::

    python -m benchmarks.bench_json              # full run (about two minutes on 2 cores)
    python -m benchmarks.bench_json --quick      # tiny smoke pass (seconds)
    python -m benchmarks.bench_json --json benchmarks/results/json.json

Everything runs in one process except the memory checks, which run each decoder in a fresh
interpreter (peak RSS is per process). Payload: 100,000 records of 100 standard-normal
float32 features (``benchmarks.payloads.dense``), written as ``{"features": [...]}`` lines
or as ``{"instances": [...]}``.

Each contender is timed with ``timeit`` (best of ``--repeat`` runs of an auto-ranged loop,
runs of one section interleaved round-robin) twice: with the garbage collector **off**
(timeit's default, what the other house benchmarks report) and **on** (what a running
program sees). The SDK's codecs build one Python dict and list per record, so the cyclic
collector costs them a lot; sm_payloads builds a few large objects. Both ratios are printed
and the targets are judged on each, so neither is hidden.

Contenders (same input bytes, same output meaning):

* JSON Lines decode: ``smp.formats.jsonlines.decode`` → (N, 100) float64 array; the SDK's
  ``JSONLinesDeserializer`` (lists of dicts only: it does less) and the same followed by
  ``np.array``; ``orjson.loads`` / ``json.loads`` per line + ``np.array``.
* JSON encode: ``smp.formats.json.encode`` of the float32 batch; the SDK's
  ``JSONSerializer`` given ``{"instances": [{"features": row.tolist()}, ...]}`` (the
  ``tolist`` is inside the timing: it is what a user must do) and, as context, given the
  bare array (it writes ``json.dumps(X.tolist())``, a different payload);
  ``orjson.dumps`` with ``OPT_SERIALIZE_NUMPY`` of the same instances.
* JSON decode and JSON Lines encode, for context.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import io
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

import sm_payloads as smp
from sm_payloads.formats import _json_layout as smp_json_layout
from sm_payloads.formats import json as smp_json
from sm_payloads.formats import jsonlines as smp_jsonl

from . import payloads
from ._harness import MB, Contender, fmt_ratio, fmt_time, patched, time_contenders

OPT = orjson.OPT_SERIALIZE_NUMPY


# ======================================================================================
# Contenders and timing
# ======================================================================================


@dataclasses.dataclass
class Result:
    benchmark: str
    gc: str
    name: str
    role: str
    rows: int
    nbytes: int
    seconds: float
    x_sdk: float = float("nan")

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rows_per_s"] = self.rows_per_s
        d["mb_per_s"] = self.nbytes / self.seconds / MB
        return d


def run_benchmark(
    title: str, contenders: list[Contender], repeat: int, quick: bool, gc_on: bool
) -> list[Result]:
    timed = time_contenders(contenders, repeat, quick, gc_on=gc_on, shrink=2)
    results = [
        Result(title, "on" if gc_on else "off", c.name, c.role, c.rows, c.nbytes, s)
        for c, (s, _) in zip(contenders, timed, strict=True)
    ]
    sdk = next(r for r in results if r.role == "sdk")
    for r in results:
        r.x_sdk = r.rows_per_s / sdk.rows_per_s
    return results


def results_table(results: list[Result]) -> str:
    lines = [
        "| benchmark | gc | contender | time/call | MB/s | rows/s | x SDK |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.benchmark} | {r.gc} | {r.name} | {fmt_time(r.seconds)} | "
            f"{r.nbytes / r.seconds / MB:,.0f} | {r.rows_per_s / 1e3:,.1f} k | {fmt_ratio(r.x_sdk)} |"
        )
    return "\n".join(lines)


TARGETS = [
    ("JSON Lines decode vs SDK JSONLinesDeserializer", "jsonlines decode", 5.0),
    ("JSON encode vs SDK JSONSerializer", "json encode", 10.0),
]


def targets_table(results: list[Result]) -> tuple[str, list[dict[str, Any]]]:
    lines = ["| target | gc | measured | wanted | result |", "|---|---|--:|--:|---|"]
    out = []
    for what, bench, want in TARGETS:
        for gc_mode in ("off", "on"):
            ours = next(r for r in results if r.benchmark == bench and r.gc == gc_mode and r.role == "ours")
            ok = ours.x_sdk >= want
            verdict = "PASS" if ok else "FAIL"
            lines.append(f"| {what} | {gc_mode} | {fmt_ratio(ours.x_sdk)} | >= {want:g}x | {verdict} |")
            out.append({"target": what, "gc": gc_mode, "got": ours.x_sdk, "want": want, "passed": ok})
    return "\n".join(lines), out


# ======================================================================================
# The SDK (imported lazily: slow to import and chatty)
# ======================================================================================


def _sdk() -> tuple[Any, Any]:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    import sagemaker.base_deserializers as deser
    import sagemaker.base_serializers as ser

    return ser, deser


def sdk_version() -> str:
    _sdk()
    import sagemaker

    return str(sagemaker.__version__)


def sdk_jsonl_decode(body: bytes) -> list[Any]:
    return _sdk()[1].JSONLinesDeserializer().deserialize(io.BytesIO(body), "application/jsonlines")


def sdk_jsonl_decode_np(body: bytes) -> np.ndarray:
    return np.array([r["features"] for r in sdk_jsonl_decode(body)], dtype=np.float64)


def sdk_json_encode(X: np.ndarray) -> str:
    return _sdk()[0].JSONSerializer().serialize({"instances": [{"features": r} for r in X.tolist()]})


def sdk_json_encode_bare(X: np.ndarray) -> str:
    return _sdk()[0].JSONSerializer().serialize(X)


def sdk_jsonl_encode(X: np.ndarray) -> str:
    return _sdk()[0].JSONLinesSerializer().serialize([{"features": r} for r in X.tolist()])


# ======================================================================================
# Plain orjson / json
# ======================================================================================


def orjson_lines(body: bytes) -> np.ndarray:
    return np.array(
        [orjson.loads(line)["features"] for line in body.splitlines() if line.strip()], np.float64
    )


def json_lines(body: bytes) -> np.ndarray:
    return np.array([json.loads(line)["features"] for line in body.splitlines() if line.strip()], np.float64)


def orjson_doc(body: bytes) -> np.ndarray:
    return np.array([i["features"] for i in orjson.loads(body)["instances"]], np.float64)


def orjson_encode(X: np.ndarray) -> bytes:
    return orjson.dumps({"instances": [{"features": r} for r in X]}, option=OPT)


def orjson_encode_lines(X: np.ndarray) -> bytes:
    return b"".join(orjson.dumps({"features": r}, option=OPT) + b"\n" for r in X)


# ======================================================================================
# Correctness (once, before timing)
# ======================================================================================


def checks(X: np.ndarray, lines: bytes, doc: bytes) -> dict[str, Any]:
    ours = smp_jsonl.decode(lines).to_numpy()
    sdk = sdk_jsonl_decode_np(lines)
    assert ours.dtype == np.float64 and np.array_equal(ours, sdk), "JSONL decode != SDK"
    assert np.array_equal(ours.astype(np.float32), X), "float32 text does not read back"
    assert np.array_equal(smp_json.decode(doc).to_numpy(), ours), "JSON decode != JSONL decode"
    sdk_doc = json.loads(sdk_json_encode(X[:100]))
    ours_doc = json.loads(smp_json.encode(smp.from_dense(X[:100])))
    as32 = [[np.float32(v) for v in i["features"]] for i in ours_doc["instances"]]
    assert as32 == [[np.float32(v) for v in i["features"]] for i in sdk_doc["instances"]]
    return {
        "jsonl_bytes": len(lines),
        "json_bytes": len(doc),
        "sdk_json_bytes_per_row": len(sdk_json_encode(X[:1000])) / 1000,
        "ours_json_bytes_per_row": len(smp_json.encode(smp.from_dense(X[:1000]))) / 1000,
    }


# ======================================================================================
# Memory (one fresh interpreter per decoder)
# ======================================================================================


def _hwm_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


MEMORY_DECODERS: dict[str, Callable[[bytes], np.ndarray]] = {
    "sm_payloads jsonlines.decode": lambda b: smp_jsonl.decode(b).to_numpy(),
    "sm_payloads json.decode": lambda b: smp_json.decode(b).to_numpy(),
    "sm_payloads jsonlines.iter_decode (batch 10,000)": lambda b: np.concatenate(
        [x.to_numpy() for x in smp_jsonl.iter_decode(b, batch_size=10_000)]
    ),
    "SDK JSONLinesDeserializer + np.array": sdk_jsonl_decode_np,
    "orjson per line + np.array": orjson_lines,
}


def memory_child(name: str, path: str) -> None:
    if name.startswith("SDK"):
        _sdk()
    with open(path, "rb") as f:
        body = f.read()
    gc.collect()
    base = _rss_kib()
    out = MEMORY_DECODERS[name](body)
    peak = _hwm_kib()
    print(
        json.dumps(
            {"base_kib": base, "peak_kib": peak, "out_bytes": int(out.nbytes), "input_bytes": len(body)}
        )
    )


def memory(lines: bytes, doc: bytes) -> list[dict[str, Any]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    with tempfile.TemporaryDirectory(prefix="smp-bench-json-") as tmp:
        paths = {"lines": os.path.join(tmp, "x.jsonl"), "doc": os.path.join(tmp, "x.json")}
        with open(paths["lines"], "wb") as f:
            f.write(lines)
        with open(paths["doc"], "wb") as f:
            f.write(doc)
        for name in MEMORY_DECODERS:
            path = paths["doc"] if "json.decode" in name else paths["lines"]
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_json", "--memory-child", name, path],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            growth = (got["peak_kib"] - got["base_kib"]) * 1024
            got.update(name=name, growth_bytes=growth, x_output=growth / got["out_bytes"])
            got["passed"] = growth < 3 * got["out_bytes"]
            out.append(got)
    return out


def memory_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| decoder | input | output array | peak growth over input | / output | < 3x output |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        mine = r["name"].startswith("sm_payloads")
        lines.append(
            f"| {r['name']} | {r['input_bytes'] / MB:,.0f} MB | {r['out_bytes'] / MB:,.0f} MB | "
            f"{r['growth_bytes'] / MB:,.0f} MB | {r['x_output']:.2f}x | "
            f"{('PASS' if r['passed'] else 'FAIL') if mine else '(context)'} |"
        )
    return "\n".join(lines)


# ======================================================================================
# Main
# ======================================================================================


def speed(
    rows: int, cols: int, repeat: int, quick: bool
) -> tuple[list[Result], dict[str, Any], bytes, bytes]:
    X, _ = payloads.dense(rows, cols)
    batch = smp.from_dense(X)
    lines = smp_jsonl.encode(batch)
    doc = smp_json.encode(batch)
    info = checks(X, lines, doc)
    n = len(X)
    sections = {
        "jsonlines decode": [
            Contender(
                "sm_payloads jsonlines.decode",
                lambda: smp_jsonl.decode(lines).to_numpy(),
                n,
                len(lines),
                "ours",
            ),
            Contender(
                "SDK JSONLinesDeserializer (lists only)",
                lambda: sdk_jsonl_decode(lines),
                n,
                len(lines),
                "sdk",
            ),
            Contender(
                "SDK JSONLinesDeserializer + np.array",
                lambda: sdk_jsonl_decode_np(lines),
                n,
                len(lines),
                "extra",
            ),
            Contender(
                "orjson.loads per line + np.array", lambda: orjson_lines(lines), n, len(lines), "extra"
            ),
            Contender("json.loads per line + np.array", lambda: json_lines(lines), n, len(lines), "extra"),
            Contender(
                "sm_payloads jsonlines.decode, no C extension",
                patched(smp_json_layout, lambda: smp_jsonl.decode(lines).to_numpy(), _C=None),
                n,
                len(lines),
                "extra",
            ),
        ],
        "json encode": [
            Contender("sm_payloads json.encode", lambda: smp_json.encode(batch), n, len(doc), "ours"),
            Contender(
                "SDK JSONSerializer (instances, tolist)", lambda: sdk_json_encode(X), n, len(doc), "sdk"
            ),
            Contender(
                "SDK JSONSerializer(ndarray), bare list",
                lambda: sdk_json_encode_bare(X),
                n,
                len(doc),
                "extra",
            ),
            Contender(
                "orjson.dumps(instances of numpy rows)", lambda: orjson_encode(X), n, len(doc), "extra"
            ),
        ],
        "json decode": [
            Contender(
                "sm_payloads json.decode", lambda: smp_json.decode(doc).to_numpy(), n, len(doc), "ours"
            ),
            Contender(
                "SDK-style json.loads + np.array",
                lambda: np.array([i["features"] for i in json.loads(doc)["instances"]]),
                n,
                len(doc),
                "sdk",
            ),
            Contender("orjson.loads + np.array", lambda: orjson_doc(doc), n, len(doc), "extra"),
            Contender(
                "sm_payloads json.decode, no C extension",
                patched(smp_json_layout, lambda: smp_json.decode(doc).to_numpy(), _C=None),
                n,
                len(doc),
                "extra",
            ),
        ],
        "jsonlines encode": [
            Contender("sm_payloads jsonlines.encode", lambda: smp_jsonl.encode(batch), n, len(lines), "ours"),
            Contender("SDK JSONLinesSerializer (tolist)", lambda: sdk_jsonl_encode(X), n, len(lines), "sdk"),
            Contender("orjson.dumps per line", lambda: orjson_encode_lines(X), n, len(lines), "extra"),
        ],
    }
    results: list[Result] = []
    for title, contenders in sections.items():
        for gc_on in (False, True):
            results += run_benchmark(title, contenders, repeat, quick, gc_on)
            print(f"  done: {title} (gc {'on' if gc_on else 'off'})", flush=True)
    return results, info, lines, doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run each")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--cols", type=int, default=payloads.DENSE_COLS)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--json", metavar="FILE", help="write results as JSON")
    p.add_argument("--memory-child", nargs=2, metavar=("DECODER", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    rows = args.rows or (2_000 if args.quick else payloads.DENSE_ROWS)
    repeat = 1 if args.quick else args.repeat
    env = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "orjson": orjson.__version__,
        "sagemaker": sdk_version(),
        "sm_payloads": smp.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "c_extension": "loaded" if smp_json_layout._C is not None else "not loaded",
    }
    print("sm_payloads JSON / JSON Lines benchmark")
    for k, v in env.items():
        print(f"  {k:<12} {v}")
    print(f"  payload      {rows:,} x {args.cols} float32 (standard normal)\n")
    results, info, lines, doc = speed(rows, args.cols, repeat, args.quick)
    print()
    print(results_table(results))
    print()
    table, targets = targets_table(results)
    print(table)
    mem: list[dict[str, Any]] = []
    if not args.no_memory:
        mem = memory(lines, doc)
        print()
        print(memory_table(mem))
    print()
    print("checks:", json.dumps(info))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "environment": env,
                    "rows": rows,
                    "cols": args.cols,
                    "results": [r.as_dict() for r in results],
                    "targets": targets,
                    "memory": mem,
                    "checks": info,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
