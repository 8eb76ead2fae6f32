"""Overhead of `smp.serving.handle` over the codecs alone, for a 6 MB request.

    python -m benchmarks.bench_serving [--quick] [--json FILE]

For each request format, one run times (a) what a hand-written container does with the
codecs: ``decode_request``, the predict function, ``encode_response``; and (b) the same
request through ``handle`` (size check, media type parsing, Accept negotiation, error
mapping). The target is (b) / (a) < 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import timeit
from typing import Any

import numpy as np

import sm_payloads as smp
from sm_payloads.serving import handle

MB = 2**20
FORMATS = ["application/x-recordio-protobuf", "text/csv", "application/json", "application/jsonlines"]


def predict(batch: smp.RecordBatch) -> smp.RecordBatch:
    return smp.RecordBatch(label={"score": batch.to_numpy().sum(axis=1, dtype=np.float64)})


def request_of_about(size: int, content_type: str) -> tuple[bytes, int]:
    """A dense float32 request of about `size` bytes in `content_type` (rows of 100 values)."""
    rng = np.random.default_rng(7)
    probe = smp.encode_request(rng.standard_normal((100, 100), dtype=np.float32), content_type)
    rows = max(1, int(size / (len(probe) / 100)))
    X = rng.standard_normal((rows, 100), dtype=np.float32)
    body = smp.encode_request(X, content_type)
    while len(body) > size and rows > 1:  # stay under the limit
        rows = int(rows * 0.98)
        body = smp.encode_request(X[:rows], content_type)
    return body, rows


def best(fn: Any, repeat: int) -> float:
    number = 1
    while timeit.timeit(fn, number=number) < 0.2:
        number *= 2
    gc.disable()
    try:
        return min(timeit.repeat(fn, number=number, repeat=repeat)) / number
    finally:
        gc.enable()


def run(quick: bool) -> dict[str, Any]:
    repeat = 3 if quick else 7
    out = []
    for ct in FORMATS:
        body, rows = request_of_about(6 * MB - 1024, ct)

        def codecs_alone(body: bytes = body, ct: str = ct) -> bytes:
            return smp.encode_response(predict(smp.decode_request(body, ct)), ct)

        def through_handler(body: bytes = body, ct: str = ct) -> bytes:
            r = handle(body, ct, "*/*", predict, env={})
            assert r.status == 200, r.body[:200]
            return r.body

        if codecs_alone() != through_handler():
            raise SystemExit(f"{ct}: the handler's answer differs from the codecs'")
        a = best(codecs_alone, repeat)
        b = best(through_handler, repeat)
        out.append({"content_type": ct, "bytes": len(body), "rows": rows, "codecs_s": a, "handler_s": b})
    return {"results": out, "quick": quick}


def table(res: dict[str, Any]) -> str:
    lines = [
        "| request | body | rows | codecs alone | through handle() | overhead | target < 2x |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in res["results"]:
        ratio = r["handler_s"] / r["codecs_s"]
        verdict = "PASS" if ratio < 2 else "FAIL"
        lines.append(
            f"| {r['content_type']} | {r['bytes'] / MB:.2f} MiB | {r['rows']:,} "
            f"| {r['codecs_s'] * 1e3:.1f} ms | {r['handler_s'] * 1e3:.1f} ms | {ratio:.2f}x | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    res = run(args.quick)
    print(table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
