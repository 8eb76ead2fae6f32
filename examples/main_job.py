"""The README's main job: CSV rows (label first) -> RecordIO-protobuf -> read back -> summary.

Usage: python examples/main_job.py [CSV] [OUT.rec]

The CSV is read with the `text/csv;label_size=1` codec (the first column is the label, the
SageMaker training convention); every value is float32 text, so it converts exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import sm_payloads as smp

HERE = Path(__file__).resolve().parent
CT = "application/x-recordio-protobuf"


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else HERE / "data" / "sensors.csv"
    out = Path(argv[2]) if len(argv) > 2 else src.with_suffix(".rec")
    rows = smp.decode_request(src.read_bytes(), "text/csv;label_size=1")
    X64, y64 = rows.to_numpy(), rows.label["values"]
    y, X = y64.astype(np.float32), X64.astype(np.float32)
    if not (np.array_equal(y, y64) and np.array_equal(X, X64)):
        print("error: the CSV holds values that float32 cannot represent exactly", file=sys.stderr)
        return 1
    body = smp.encode_request(smp.from_dense(X, y), CT)
    out.write_bytes(body)
    batch = smp.decode_request(out.read_bytes(), CT)
    assert batch.to_numpy().tobytes() == X.tobytes() and batch.label["values"].tobytes() == y.tobytes()
    print(f"wrote {out} ({len(body)} bytes, {len(batch)} records)")
    for map_name in ("features", "label"):
        for key, col in getattr(batch, map_name).items():
            print(f"  {map_name}[{key!r}]: {col.dtype}, shape {col.shape}")
    values, counts = np.unique(y, return_counts=True)
    pairs = zip(values.tolist(), counts.tolist(), strict=True)
    print("  labels: " + ", ".join(f"{v:g}: {c}" for v, c in pairs))
    print(f"  first record: {smp.recordio.explain(body, limit=1).splitlines()[0]}")
    print("read back bit for bit: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
