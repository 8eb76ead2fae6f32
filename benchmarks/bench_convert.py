"""Streaming conversion with the command line: CSV -> RecordIO-protobuf -> CSV on a large file.

    python -m benchmarks.bench_convert [--size-mb 2048] [--quick] [--json FILE]

Writes a CSV of about `--size-mb` MiB (label first, then 100 float32 features, written in
chunks: the generator never holds the file), then runs ``sm-payloads convert`` in a fresh
process each way and reports each run's peak RSS (the child's ``VmHWM``) and
throughput. Checks, streaming in batches, that the values came back bit for bit. For the
throughput target it also times the two codecs alone on one in-memory batch (CSV decode,
RecordIO-protobuf encode) and compares rates: the pipeline should be within 1.5x of the
slower codec.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import sm_payloads as smp
from sm_payloads.formats import csv as csv_codec
from sm_payloads.formats import recordio_protobuf as rp

from ._harness import Contender, time_contenders

MiB = 2**20
COLS = 100
CHUNK_ROWS = 20_000
CT_CSV = "text/csv;label_size=1"


def write_csv(path: str, size: int) -> tuple[int, int]:
    """About `size` bytes of CSV rows; returns (rows, bytes)."""
    rng = np.random.default_rng(11)
    rows = 0
    with open(path, "wb") as f:
        while f.tell() < size:
            X = rng.standard_normal((CHUNK_ROWS, COLS), dtype=np.float32)
            y = rng.integers(0, 2, CHUNK_ROWS).astype(np.float32)
            f.write(csv_codec.encode(smp.from_dense(X, y), label_size=1) + b"\n")
            rows += CHUNK_ROWS
        return rows, f.tell()


# The child's own high-water mark (VmHWM). ``ru_maxrss`` can carry the parent's peak
# over a fork on Linux, so it would overstate a small child of a large parent.
_CHILD = (
    "import sys\n"
    "from sm_payloads.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
    "print('peak-rss-kib', hwm, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def run_cli(*args: str) -> tuple[float, int]:
    """(seconds, peak RSS bytes) of one ``sm-payloads`` run in a fresh process."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args, "-q"], check=True, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - t
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("peak-rss-kib ")][-1]
    return seconds, int(line.split()[1]) * 1024


def same_values(a: str, b: str, batch: int) -> bool:
    """Stream both CSV files in batches and compare float32 values bit for bit."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        ia = csv_codec.iter_decode(fa, batch_size=batch, label_size=1, dtype=np.float32)
        ib = csv_codec.iter_decode(fb, batch_size=batch, label_size=1, dtype=np.float32)
        for x, y in zip(ia, ib, strict=True):
            if not x.equals(y, bitwise=True):
                return False
    return True


def codec_rates(path: str, repeat: int, quick: bool) -> dict[str, float]:
    """Rows/s of the CSV decoder and the RecordIO-protobuf encoder alone, on one batch."""
    with open(path, "rb") as f:
        head = b"".join(f.readline() for _ in range(CHUNK_ROWS))
    batch = csv_codec.decode(head, label_size=1, dtype=np.float32)
    n = len(batch)
    timed = time_contenders(
        [
            Contender(
                "csv decode",
                lambda: csv_codec.decode(head, label_size=1, dtype=np.float32),
                n,
                len(head),
                "x",
            ),
            Contender("recordio encode", lambda: rp.encode(batch), n, len(head), "x"),
        ],
        repeat,
        quick,
    )
    return {"csv_decode_rows_per_s": n / timed[0][0], "recordio_encode_rows_per_s": n / timed[1][0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=2048, help="CSV size in MiB (default 2048)")
    ap.add_argument("--quick", action="store_true", help="a 64 MiB file and short timings")
    ap.add_argument("--batch-size", type=int, default=10_000, help="convert's --batch-size (default 10000)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    size = (64 if args.quick else args.size_mb) * MiB
    with tempfile.TemporaryDirectory(prefix="smp-convert-") as tmp:
        src, rec, back = (os.path.join(tmp, n) for n in ("in.csv", "out.rec", "back.csv"))
        t = time.perf_counter()
        rows, nbytes = write_csv(src, size)
        took = time.perf_counter() - t
        print(
            f"wrote {nbytes / MiB:,.0f} MiB of CSV ({rows:,} rows x {COLS} float32 + label) in {took:.1f} s"
        )
        bs = str(args.batch_size)
        to_rec = run_cli("convert", src, rec, "--from", CT_CSV, "--dtype", "float32", "--batch-size", bs)
        to_csv = run_cli("convert", rec, back, "--to", CT_CSV, "--batch-size", bs)
        exact = same_values(src, back, args.batch_size)
        rates = codec_rates(src, 3 if args.quick else 5, args.quick)
        res: dict[str, Any] = {
            "csv_bytes": nbytes,
            "recordio_bytes": os.path.getsize(rec),
            "rows": rows,
            "batch_size": args.batch_size,
            "csv_to_recordio": {
                "seconds": to_rec[0],
                "peak_rss_bytes": to_rec[1],
                "rows_per_s": rows / to_rec[0],
            },
            "recordio_to_csv": {
                "seconds": to_csv[0],
                "peak_rss_bytes": to_csv[1],
                "rows_per_s": rows / to_csv[0],
            },
            "values_bit_for_bit": exact,
            **rates,
        }
    slower = min(rates["csv_decode_rows_per_s"], rates["recordio_encode_rows_per_s"])
    ratio = slower / res["csv_to_recordio"]["rows_per_s"]
    res["pipeline_vs_slower_codec"] = ratio
    print("| run | time | rows/s | peak RSS | target |")
    print("|---|--:|--:|--:|---|")
    for name, key in (
        ("CSV -> RecordIO-protobuf", "csv_to_recordio"),
        ("RecordIO-protobuf -> CSV", "recordio_to_csv"),
    ):
        r = res[key]
        verdict = "PASS" if r["peak_rss_bytes"] < 300e6 else "FAIL"
        print(
            f"| {name} | {r['seconds']:.1f} s | {r['rows_per_s']:,.0f} | {r['peak_rss_bytes'] / 1e6:,.0f} MB "
            f"| peak < 300 MB: {verdict} |"
        )
    print(
        f"\ncodecs alone: CSV decode {rates['csv_decode_rows_per_s']:,.0f} rows/s, "
        f"RecordIO encode {rates['recordio_encode_rows_per_s']:,.0f} rows/s; the pipeline takes "
        f"{ratio:.2f}x the time of the slower one (target <= 1.5x: {'PASS' if ratio <= 1.5 else 'FAIL'})"
    )
    print(f"values bit for bit after CSV -> RecordIO -> CSV: {exact}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
