"""Autopilot responses (issue #23): `smp.autopilot.decode_response` of the answers of an
Autopilot model's containers, against ``orjson.loads`` and against the per-record reader it
used before the column routes.

Run from the repository root::

    python -m benchmarks.bench_autopilot                 # full run, 10 MB per body, ~2 min
    python -m benchmarks.bench_autopilot --quick         # smoke pass, about 300 KB per body
    python -m benchmarks.bench_autopilot --mb 1 --json benchmarks/results/autopilot.json

Bodies (seeded, so every run times the same bytes), each written by
`smp.autopilot.encode_response` as its container writes it, in CSV, JSON
(``{"predictions": [...]}``) and JSON Lines:

* **binary label, probability** (post-processing role): ``True.,0.8234...``, the default
  answer of a binary classifier asked for ``predicted_label,probability``;
* **binary, all four keys** (post-processing): label, probability, probabilities and labels
  (``['False.', 'True.']``); in JSON every value is a string, as that container writes it;
* **multiclass, 3 classes** (algorithm role, the XGBoost container): class index and
  probabilities (``1,"[0.1, 0.2, 0.7]"``);
* **multiclass, all four keys** (ensemble role): typed JSON values, labels as lists of
  strings.

Contenders: ``decode_response`` (ours); ``orjson.loads`` of the body (JSON), of each line
(JSON Lines), and for CSV of the same records written as JSON (``x orjson`` is the peer's
time over ours; issue #23's goal is at least 3x), timed interleaved with ours by
``benchmarks/_harness.py`` (best of ``--repeat`` runs of auto-ranged loops, the garbage
collector off, as ``timeit`` has it); the per-record reader alone (``_csv_records`` /
``_json_records`` / ``_jsonlines_records``, what ``decode_response`` ran before, kept as
the route for what the column routes decline: ``x before`` is its time over ours), timed
apart with the garbage collector on, since its CSV reader leaves cyclic garbage (about 11
objects a record) that would otherwise pile up and slow the others. Before timing, ours
is checked bit for bit against the per-record reader. ``peak / body``: tracemalloc's
peak of one call of ours over the body's size.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

import sm_payloads as smp
from sm_payloads import autopilot as ap
from sm_payloads.formats import _csv_text
from sm_payloads.formats import _json_layout as jlayout

from ._harness import MB, Contender, fmt_ratio, fmt_time, time_contenders

CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"
FORMATS = (CSV, JSON, JSONL)
PP_ALL = ("predicted_label", "probability", "probabilities", "labels")


@dataclasses.dataclass
class Case:
    name: str
    role: ap.Role
    keys: tuple[str, ...]
    record: Callable[[int, float], dict[str, Any]]


def _binary(i: int, p: float) -> dict[str, Any]:
    return {
        "predicted_label": "True." if p > 0.5 else "False.",
        "probability": max(p, 1 - p),
        "probabilities": [1 - p, p],
        "labels": ["False.", "True."],
    }


def _three(i: int, p: float) -> dict[str, Any]:
    probs = [p / 2, p / 3, 1 - p * 5 / 6]
    return {
        "predicted_label": float(int(np.argmax(probs))),
        "probability": max(probs),
        "probabilities": probs,
        "labels": ["setosa", "versicolor", "virginica"],
    }


def _three_labels(i: int, p: float) -> dict[str, Any]:
    rec = _three(i, p)
    rec["predicted_label"] = rec["labels"][int(rec["predicted_label"])]
    return rec


CASES = (
    Case("binary label, probability", "post-processing", ("predicted_label", "probability"), _binary),
    Case("binary, all four keys", "post-processing", PP_ALL, _binary),
    Case("multiclass, 3 classes", "algorithm", ("predicted_label", "probabilities"), _three),
    Case("multiclass, all four keys", "ensemble", PP_ALL, _three_labels),
)


def body_of(case: Case, ct: str, target: int) -> tuple[bytes, int]:
    """About `target` bytes of `case`'s answer in `ct` (2,000 distinct records, repeated),
    and its record count."""
    rng = np.random.default_rng(0)
    recs = []
    for i, p in enumerate(rng.random(2000).tolist()):
        full = case.record(i, p)
        recs.append({k: full[k] for k in case.keys})
    one = ap.encode_response(recs, ct, case.keys, role=case.role, sagemaker_batch=True)
    reps = max(1, target // len(one))
    if ct == JSON:
        inner = one[len(b'{"predictions": [') : -2]
        return b'{"predictions": [' + b", ".join([inner] * reps) + b"]}", 2000 * reps
    return one * reps, 2000 * reps


def per_record(body: bytes, ct: str, case: Case) -> smp.RecordBatch:
    """The per-record reader alone."""
    if ct == CSV:
        return ap._csv_records(body, _csv_text.body_start(body), case.keys, case.role, "utf-8")
    if ct == JSON:
        return ap._json_records(body, jlayout.skip_bom(body), case.keys, case.role)
    return ap._jsonlines_records(body, jlayout.skip_bom(body), case.keys, case.role)


def same(a: smp.RecordBatch, b: smp.RecordBatch) -> bool:
    if len(a) != len(b) or list(a.label) != list(b.label):
        return False
    for k in a.label:
        x, y = a.label[k], b.label[k]
        if type(x) is not type(y) or x.dtype != y.dtype:
            return False
        if isinstance(x, smp.Ragged):
            if x.values.tobytes() != y.values.tobytes() or x.offsets.tolist() != y.offsets.tolist():
                return False
        elif x.shape != y.shape or (
            x.tolist() != y.tolist() if x.dtype == object else x.tobytes() != y.tobytes()
        ):
            return False
    return True


def peak(f: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(target: int, repeat: int, quick: bool, only: str = "") -> list[dict[str, Any]]:
    rows = []
    for case in CASES:
        if only and only not in case.name:
            continue
        for ct in FORMATS:
            body, n = body_of(case, ct, target)
            ours = ap.decode_response(body, ct, case.keys, role=case.role)
            exact = same(ours, per_record(body, ct, case))
            if ct == CSV:
                jbody = ap.encode_response(ours, JSON, case.keys, role="ensemble")
                peer = ("orjson.loads (the records as JSON)", lambda j=jbody: orjson.loads(j))
            elif ct == JSON:
                peer = ("orjson.loads", lambda b=body: orjson.loads(b))
            else:
                peer = ("orjson.loads per line", lambda b=body: [orjson.loads(x) for x in b.splitlines()])
            ours_c = Contender(
                "decode_response",
                lambda b=body, c=ct, k=case: ap.decode_response(b, c, k.keys, role=k.role),
                n,
                len(body),
                "ours",
            )
            before_c = Contender(
                "per-record reader", lambda b=body, c=ct, k=case: per_record(b, c, k), n, len(body), "extra"
            )
            gc.collect()
            (t_ours, _), (t_peer, _) = time_contenders(
                [ours_c, Contender(peer[0], peer[1], n, len(body), "baseline")], repeat, quick
            )
            # The per-record CSV reader leaves cyclic garbage (about 11 objects a record):
            # timed with the collector on, as it runs in use, and apart, so that its garbage
            # does not slow the others.
            gc.collect()
            ((t_before, _),) = time_contenders([before_c], repeat, quick, gc_on=True)
            gc.collect()
            used = peak(lambda b=body, c=ct, k=case: ap.decode_response(b, c, k.keys, role=k.role))
            row = {
                "case": case.name,
                "role": case.role,
                "format": ct,
                "mb": len(body) / MB,
                "records": n,
                "ours_s": t_ours,
                "mb_per_s": len(body) / MB / t_ours,
                "before_s": t_before,
                "x_before": t_before / t_ours,
                "peer": peer[0],
                "peer_s": t_peer,
                "x_orjson": t_peer / t_ours,
                "peak_per_body": used / len(body),
                "exact": exact,
            }
            rows.append(row)
            print(
                f"{case.name:28s} {ct:22s} {row['mb']:5.1f} MB  {fmt_time(t_ours):>9s} "
                f"{row['mb_per_s']:7.1f} MB/s  before {fmt_time(t_before):>9s} "
                f"({fmt_ratio(row['x_before'])})  orjson {fmt_time(t_peer):>9s} "
                f"({fmt_ratio(row['x_orjson'])})  peak {row['peak_per_body']:.1f}x"
                f"{'' if exact else '  MISMATCH'}",
                flush=True,
            )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| answer | role | format | MB | records | decode_response | MB/s | per-record reader | x before | "
        "orjson.loads | x orjson | peak / body |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r['case']} | {r['role']} | {r['format']} | {r['mb']:.1f} | {r['records']:,} | "
            f"{fmt_time(r['ours_s'])} | {r['mb_per_s']:.0f} | {fmt_time(r['before_s'])} | "
            f"{fmt_ratio(r['x_before'])} | {fmt_time(r['peer_s'])} | {fmt_ratio(r['x_orjson'])} | "
            f"{r['peak_per_body']:.1f}x |" + ("" if r["exact"] else " MISMATCH |")
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 300 KB per body, one call per timed run")
    parser.add_argument("--mb", type=float, default=10.0, help="body size in MB (default 10)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per contender (default 5)")
    parser.add_argument("--json", help="also write the rows and the environment as JSON")
    parser.add_argument("--only", default="", help="only the answers whose name holds this text")
    args = parser.parse_args(argv)
    target = 300_000 if args.quick else int(args.mb * MB)
    repeat = 2 if args.quick else args.repeat
    rows = run(target, repeat, args.quick, args.only)
    print()
    print(table(rows))
    if args.json:
        env = {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "orjson": orjson.__version__,
            "target_mb": target / MB,
            "repeat": repeat,
        }
        with open(args.json, "w") as f:
            json.dump({"environment": env, "rows": rows}, f, indent=1)
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
