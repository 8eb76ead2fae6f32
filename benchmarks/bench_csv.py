"""CSV benchmark: sm_payloads vs the SageMaker SDK vs numpy.loadtxt, in one run.

Run from the repository root::

    python -m benchmarks.bench_csv            # full run (100,000 x 100 float32; a minute or two)
    python -m benchmarks.bench_csv --quick    # tiny smoke pass (seconds)
    python -m benchmarks.bench_csv --json benchmarks/results/csv.json

Encode: ``sm_payloads.formats.csv.encode`` against the SDK v2 ``CSVSerializer`` (same bytes,
checked) and ``numpy.savetxt``. Decode: ``csv.decode`` of the text the SDK writes, against
``numpy.loadtxt`` on the same text (float64 both) and the SDK's ``CSVDeserializer`` (lists
of strings, for context). The SDK encoder is timed on a slice (``--sdk-rows``) because it is
slow; rates are per row, so they compare directly. Each contender: ``timeit``, best of
``--repeat`` interleaved runs. Memory: peak bytes traced by ``tracemalloc`` (numpy reports
its buffers to it) during one decode, over the output array's size, the input excluded.

Targets (issue #3): encode >= 10x the SDK; decode >= 3x ``numpy.loadtxt``; decode peak
memory < 3x the output array (plus the input, which the caller holds).
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
import sys
import tracemalloc
from typing import Any

import numpy as np

import sm_payloads as smp
from sm_payloads.formats import _textnum, csv

from . import payloads
from ._harness import MB, Contender, patched, time_contenders


@dataclasses.dataclass
class Result:
    benchmark: str
    name: str
    role: str
    rows: int
    nbytes: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rows_per_s"] = self.rows_per_s
        d["mb_per_s"] = self.nbytes / self.seconds / MB
        return d


def run(title: str, contenders: list[Contender], repeat: int, quick: bool) -> list[Result]:
    timed = time_contenders(contenders, repeat, quick)
    return [
        Result(title, c.name, c.role, c.rows, c.nbytes, s)
        for c, (s, _) in zip(contenders, timed, strict=True)
    ]


def table(results: list[Result]) -> str:
    lines = ["| benchmark | contender | rows/call | time/call | MB/s | rows/s |", "|---|---|--:|--:|--:|--:|"]
    for r in results:
        t = r.seconds
        shown = f"{t:.2f} s" if t >= 1 else f"{t * 1e3:.1f} ms"
        lines.append(
            f"| {r.benchmark} | {r.name} | {r.rows:,} | {shown} | {r.nbytes / t / MB:,.0f} | "
            f"{r.rows_per_s:,.0f} |"
        )
    return "\n".join(lines)


def peak_decode_memory(text: bytes) -> tuple[int, int]:
    """(peak traced bytes during one decode, bytes of the output array)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        batch = csv.decode(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, int(batch.features["values"].nbytes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_csv", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one call per run (a smoke test)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per contender (default 5; 1 quick)")
    ap.add_argument("--rows", type=int, default=None, help="rows (default 100,000; 2,000 with --quick)")
    ap.add_argument("--sdk-rows", type=int, default=None, help="rows the SDK encoder is timed on (10,000)")
    args = ap.parse_args(argv)
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.serializers import CSVSerializer

    rows = args.rows or (2_000 if args.quick else payloads.DENSE_ROWS)
    sdk_rows = min(rows, args.sdk_rows or (500 if args.quick else 10_000))
    repeat = args.repeat or (1 if args.quick else 5)
    X = payloads.dense(rows, payloads.DENSE_COLS).X
    sdk = CSVSerializer()
    text = csv.encode(smp.from_dense(X))
    sdk_text = sdk.serialize(X[:sdk_rows]).encode()
    assert text.startswith(sdk_text), "sm_payloads and the SDK wrote different bytes"
    sdk_bytes = len(sdk_text)
    env = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "sm_payloads": smp.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": rows,
        "cols": payloads.DENSE_COLS,
        "text_mb": len(text) / MB,
    }
    print(f"# CSV benchmark: {rows:,} x {payloads.DENSE_COLS} float32, {len(text) / MB:.1f} MB of text")
    native = "loaded" if _textnum._C is not None else "not loaded"
    env["c_extension"] = native
    print(f"# python {env['python']}, numpy {env['numpy']}, {env['cpus']} CPUs, C extension {native}\n")

    enc = run(
        "encode",
        [
            Contender("sm_payloads encode", lambda: csv.encode(smp.from_dense(X)), rows, len(text), "ours"),
            Contender("SDK CSVSerializer", lambda: sdk.serialize(X[:sdk_rows]), sdk_rows, sdk_bytes, "sdk"),
            Contender(
                "numpy.savetxt (%.9g)",
                lambda: np.savetxt(io.BytesIO(), X[:sdk_rows], fmt="%.9g", delimiter=","),
                sdk_rows,
                sdk_bytes,
                "extra",
            ),
            Contender(
                "sm_payloads encode, no C extension",
                patched(_textnum, lambda: csv.encode(smp.from_dense(X)), _C=None),
                rows,
                len(text),
                "extra",
            ),
        ],
        repeat,
        args.quick,
    )
    deser = CSVDeserializer()
    dec = run(
        "decode",
        [
            Contender("sm_payloads decode", lambda: csv.decode(text), rows, len(text), "ours"),
            Contender(
                "numpy.loadtxt",
                lambda: np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64),
                rows,
                len(text),
                "baseline",
            ),
            Contender(
                "SDK CSVDeserializer (strings)",
                lambda: deser.deserialize(io.BytesIO(sdk_text), "text/csv"),
                sdk_rows,
                sdk_bytes,
                "extra",
            ),
            Contender(
                "sm_payloads decode, one thread",
                patched(_textnum, lambda: csv.decode(text), PARALLEL_MIN=1 << 62),
                rows,
                len(text),
                "extra",
            ),
            Contender(
                "sm_payloads decode, no C extension",
                patched(_textnum, lambda: csv.decode(text), _C=None),
                rows,
                len(text),
                "extra",
            ),
        ],
        repeat,
        args.quick,
    )
    results = enc + dec
    print(table(results))
    ours_enc = enc[0].rows_per_s / enc[1].rows_per_s
    ours_dec = dec[0].rows_per_s / dec[1].rows_per_s
    one_thread = dec[3].rows_per_s / dec[1].rows_per_s
    pure = dec[4].rows_per_s / dec[1].rows_per_s
    pure_enc = enc[3].rows_per_s / enc[1].rows_per_s
    peak, out_bytes = peak_decode_memory(text)
    targets = [
        ("encode vs SDK CSVSerializer (rows/s)", ours_enc, 10.0, ours_enc >= 10.0),
        ("encode, no C extension, vs SDK CSVSerializer (context)", pure_enc, 10.0, pure_enc >= 10.0),
        ("decode vs numpy.loadtxt (rows/s)", ours_dec, 3.0, ours_dec >= 3.0),
        ("decode peak memory / output array", peak / out_bytes, 3.0, peak / out_bytes < 3.0),
        ("decode, one thread, vs numpy.loadtxt (context)", one_thread, 3.0, one_thread >= 3.0),
        ("decode, no C extension, vs numpy.loadtxt (context)", pure, 3.0, pure >= 3.0),
    ]
    print("\n| target | measured | wanted | result |\n|---|--:|--:|---|")
    for what, got, want, ok in targets:
        cmp = "<" if "memory" in what else ">="
        verdict = "-" if "(context)" in what else "PASS" if ok else "FAIL"
        print(f"| {what} | {got:.2f}x | {cmp} {want:g}x | {verdict} |")
    print(f"\npeak traced during decode: {peak / 2**20:.1f} MiB for a {out_bytes / 2**20:.1f} MiB output")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "environment": env,
                    "quick": args.quick,
                    "results": [r.as_dict() for r in results],
                    "targets": [{"what": w, "got": g, "want": t, "passed": ok} for w, g, t, ok in targets],
                    "peak_bytes": peak,
                    "output_bytes": out_bytes,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
