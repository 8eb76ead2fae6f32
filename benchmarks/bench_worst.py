"""The worst shapes of every format, measured the same way: CPU time per byte of a body of
one size (6 MiB by default, the serving limit) against the fastest body of its format, and
the peak allocation against the body, on the C path and on the pure path.

Hardening bounds (docs/reliability.md, "Memory and time bounds"): every decoder's peak
allocation (tracemalloc, numpy included) within 32 x the input + 8 MB, and no body of a
format more than about 10 x the CPU time per byte of that format's fastest body.

    python -m benchmarks.bench_worst                    # C path, then the pure path, ~5 min
    python -m benchmarks.bench_worst --only json,csv    # some formats
    python -m benchmarks.bench_worst --memory           # also the tracemalloc peaks (slower)
    python -m benchmarks.bench_worst --quick            # 256 KiB bodies: checks the script
    python -m benchmarks.bench_worst --json benchmarks/results/worst.json

Each body is decoded once untimed (its outcome is printed: a batch of N records or the
error's class), then timed: the best of `--repeat` runs of `time.process_time`. The pure
path runs in a child process with ``SM_PAYLOADS_PURE_PYTHON=1``. A row's "x fastest" is
its time per byte over the fastest row of its format on the same path, in the same run,
among the bodies decoded (a body refused at its first record is no reference). A body
with limits (the fourth item of its tuple, `smp.limits.SERVING`) is decoded as a model
server decodes it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import sm_payloads as smp
from sm_payloads.limits import SERVING, Limits
from sm_payloads.recordio import write_records

RIO = "application/x-recordio-protobuf"

# --------------------------------------------------------------------------------------
# Bodies: each a function of the target size in bytes -> (content type, body, response)
# --------------------------------------------------------------------------------------

#: (content type, body, response) and, for a body measured as a model server decodes it,
#: the limits (`smp.limits.SERVING`)
Body = tuple[str, bytes, bool] | tuple[str, bytes, bool, Limits]


def _fill(unit: bytes, size: int, head: bytes = b"", tail: bytes = b"", sep: bytes = b"") -> bytes:
    n = max(1, (size - len(head) - len(tail)) // (len(unit) + len(sep)))
    return head + sep.join([unit] * n) + tail


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _f32(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}f", *xs)


def _feature(key: bytes, *values: bytes) -> bytes:
    """A `features` map entry (Record field 1) of key and Value parts."""
    return _ld(1, _ld(1, key) + b"".join(_ld(2, v) for v in values))


def _pandas_floats(size: int) -> bytes:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((max(1, size // 190), 10))
    return (
        "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x).encode()[:size].rsplit(b"\n", 1)[0]
        + b"\n"
    )


def _distinct_pairs(size: int) -> bytes:
    rng = np.random.default_rng(3)
    letters = rng.integers(97, 123, size=(size // 3, 2), dtype=np.uint8)
    out = np.full((size // 3, 3), 10, np.uint8)
    out[:, :2] = letters
    return out.tobytes()


SHAPES: dict[str, dict[str, Callable[[int], Body]]] = {
    "csv": {
        "17-digit floats, 10 a row (pandas to_csv)": lambda n: ("text/csv", _pandas_floats(n), False),
        "small ints `1,2,3`": lambda n: ("text/csv", _fill(b"1,2,3\n", n), False),
        "blank lines": lambda n: ("text/csv", b"1\n" + b"\n" * (n - 2), False),
        "one row of empty fields": lambda n: ("text/csv", b"," * (n - 1) + b"\n", False),
        "text rows `a,b,c`": lambda n: ("text/csv", _fill(b"a,b,c\n", n), False),
        "one text field `a` a row": lambda n: ("text/csv", _fill(b"a\n", n), False),
        "distinct 2-letter text records": lambda n: ("text/csv", _distinct_pairs(n), False),
        "a text label and a number": lambda n: ("text/csv", _fill(b"cat,1.5\n", n), False),
        "quoted text with a newline": lambda n: ("text/csv", _fill(b'"a\nb",1\n', n), False),
        "a ragged row at the end (refused)": lambda n: ("text/csv", _fill(b"1,2\n", n - 4) + b"1\n", False),
    },
    "json": {
        '`{"features": [10 numbers]}` records': lambda n: (
            "application/json",
            _fill(
                b'{"features": [1.5, 2.25, 3, 4, 5.5, 6, 7, 8, 9, 10.125]}',
                n,
                b'{"instances": [',
                b"]}",
                b", ",
            ),
            False,
        ),
        "bare lists `[1.5, 2]`": lambda n: (
            "application/json",
            _fill(b"[1.5, 2]", n, b"[", b"]", b","),
            False,
        ),
        "scalar records `[[1], 1, 1, ...]`": lambda n: (
            "application/json",
            _fill(b"1", n, b"[[1],", b"]", b","),
            False,
        ),
        "nested `[[1]]` records": lambda n: ("application/json", _fill(b"[[1]]", n, b"[", b"]", b","), False),
        "one record of many keys": lambda n: (
            "application/json",
            b"{" + b",".join(b'"k%d":1.5' % i for i in range(max(1, n // 12))) + b"}",
            False,
        ),
        "one record of many keys, serving limits (refused)": lambda n: (
            "application/json",
            b"{" + b",".join(b'"k%d":1.5' % i for i in range(max(1, n // 12))) + b"}",
            False,
            SERVING,
        ),
        'shaped tensor objects `{"values": [4], "shape": [2, 2]}`': lambda n: (
            "application/json",
            _fill(
                b'{"features": {"values": [1, 2, 3, 4], "shape": [2, 2]}}', n, b'{"instances": [', b"]}", b","
            ),
            False,
        ),
        "a list record among objects": lambda n: (
            "application/json",
            _fill(b'{"a": 1}', n - 10, b'{"instances": [', b", [1, 2]]}", b","),
            False,
        ),
        "a key twice in a record": lambda n: (
            "application/json",
            _fill(b'{"a": 1}', n - 20, b'{"instances": [{"a": 1, "a": 2}, ', b"]}", b","),
            False,
        ),
        "`null` in the first record (refused)": lambda n: (
            "application/json",
            _fill(b'{"a": 1}', n - 20, b'{"instances": [{"a": null}, ', b"]}", b","),
            False,
        ),
        "DeepAR instances and a configuration": lambda n: (
            "application/json",
            _fill(
                b'{"start": "2009-11-01 00:00:00", "target": [4.3, 1.5, 2.25, 6.0, 3.5], "cat": [0, 1]}',
                n - 60,
                b'{"instances": [',
                b'], "configuration": {"num_samples": 50, "quantiles": ["0.5", "0.9"]}}',
                b",",
            ),
            False,
        ),
        "BlazingText sentences": lambda n: (
            "application/json",
            _fill(b'"the quick brown fox jumps over the lazy dog"', n, b'{"instances": [', b"]}", b","),
            False,
        ),
        "lists of strings": lambda n: (
            "application/json",
            _fill(b'{"features": ["a", "b"]}', n, b'{"instances": [', b"]}", b","),
            False,
        ),
        "sparse records with a label": lambda n: (
            "application/json",
            _fill(
                b'{"data": {"features": {"keys": [3], "shape": [10], "values": [1.5]}},'
                b' "label": {"values": {"values": [1]}}}',
                n,
                b'{"instances": [',
                b"]}",
                b",",
            ),
            False,
        ),
        "`true` in the last record (refused)": lambda n: (
            "application/json",
            _fill(
                b'{"features": [1.5, 2]}', n - 40, b'{"instances": [', b', {"features": [1, true]}]}', b","
            ),
            False,
        ),
        "two nested shapes (refused)": lambda n: (
            "application/json",
            _fill(
                b'{"features": [[1, 2], [3, 4]]}',
                n - 40,
                b'{"instances": [',
                b', {"features": [[1, 2, 3]]}]}',
                b",",
            ),
            False,
        ),
        "a string list among number lists (refused)": lambda n: (
            "application/json",
            _fill(b'{"features": [1, 2]}', n - 40, b'{"instances": [', b', {"features": ["a", "b"]}]}', b","),
            False,
        ),
        '`{"score": 0.5}` responses': lambda n: (
            "application/json",
            _fill(b'{"score": 0.5}', n, b'{"predictions": [', b"]}", b","),
            True,
        ),
        'empty tensor objects `{"a": {}}`': lambda n: (
            "application/json",
            _fill(b'{"a": {}}', n, b"[", b"]", b","),
            False,
        ),
        "empty nested lists `[[]]`": lambda n: (
            "application/json",
            _fill(b"[[]]", n, b"[", b"]", b","),
            False,
        ),
        'bare lists of a string `["a"]`': lambda n: (
            "application/json",
            _fill(b'["a"]', n, b"[", b"]", b","),
            False,
        ),
        "a bare list holding an object `[{}]` (refused)": lambda n: (
            "application/json",
            _fill(b"[{}]", n, b"[", b"]", b","),
            False,
        ),
        "sparse tensors of shape `[]` (refused: a column error)": lambda n: (
            "application/json",
            _fill(b'{"a": {"shape": []}}', n, b"[", b"]", b","),
            False,
        ),
        "`null` score in the last response record (refused)": lambda n: (
            "application/json",
            _fill(b'{"score": 0.5}', n - 20, b'{"predictions": [', b', {"score": null}]}', b","),
            True,
        ),
    },
    "jsonlines": {
        '`{"features": [10 numbers]}` lines': lambda n: (
            "application/jsonlines",
            _fill(b'{"features": [1.5, 2.25, 3, 4, 5.5, 6, 7, 8, 9, 10.125]}\n', n),
            False,
        ),
        "`1` per line": lambda n: ("application/jsonlines", _fill(b"1\n", n), False),
        "`[[1]]` per line": lambda n: ("application/jsonlines", _fill(b"[[1]]\n", n), False),
        "lists of strings": lambda n: (
            "application/jsonlines",
            _fill(b'{"features": ["a", "b"]}\n', n),
            False,
        ),
        "`true` in the last line (refused)": lambda n: (
            "application/jsonlines",
            _fill(b'{"features": [1.5, 2]}\n', n - 30) + b'{"features": [1, true]}\n',
            False,
        ),
        "two nested shapes (refused)": lambda n: (
            "application/jsonlines",
            _fill(b'{"features": [[1, 2], [3, 4]]}\n', n - 30) + b'{"features": [[1, 2, 3]]}\n',
            False,
        ),
        "20 blank lines a record": lambda n: ("application/jsonlines", _fill(b"[1]" + b"\n" * 21, n), False),
        "`null` in the first line (refused)": lambda n: (
            "application/jsonlines",
            b'{"a": null}\n' + _fill(b'{"a": 1}\n', n - 12),
            False,
        ),
        "`{}` response lines": lambda n: ("application/jsonlines", _fill(b"{}\n", n), True),
        '`{"a": {}}` response lines': lambda n: ("application/jsonlines", _fill(b'{"a": {}}\n', n), True),
        "a list line among objects": lambda n: (
            "application/jsonlines",
            _fill(b'{"a": 1}\n', n - 8) + b"[1, 2]\n",
            False,
        ),
    },
    "recordio": {
        "dense records of 100 float32": lambda n: (
            RIO,
            smp.encode_request(np.ones((max(1, n // 416), 100), np.float32), RIO),
            False,
        ),
        "records of one float32": lambda n: (
            RIO,
            smp.encode_request(np.ones((max(1, n // 24), 1), np.float32), RIO),
            False,
        ),
        "empty records": lambda n: (RIO, write_records([b""] * (n // 8)), False),
        "a value in two parts": lambda n: (
            RIO,
            write_records([_feature(b"v", _ld(2, _ld(1, _f32(1.5))), _ld(2, _ld(1, _f32(2.0))))] * (n // 32)),
            False,
        ),
        "one record: empty map entries": lambda n: (
            RIO,
            write_records([b"\x0a\x00" * (n // 2 - 8) + _feature(b"v", _ld(2, _ld(1, _f32(1.5))))]),
            False,
        ),
        "one record: empty parts of one value": lambda n: (
            RIO,
            write_records([_feature(b"v", *([b""] * (n // 2 - 16)), _ld(2, _ld(1, _f32(1.5))))]),
            False,
        ),
        "one record: unpacked int32 values": lambda n: (
            RIO,
            write_records([_feature(b"v", _ld(7, b"\x08\x01" * (n // 2 - 16)))]),
            False,
        ),
        "one record: entries of keys `a`, `b` without a value": lambda n: (
            RIO,
            write_records(
                [
                    b"\x0a\x03\x0a\x01a\x0a\x03\x0a\x01b" * (n // 10 - 2)
                    + _feature(b"v", _ld(2, _ld(1, _f32(1.5))))
                ]
            ),
            False,
        ),
        "one record: 3-byte `uid` strings": lambda n: (
            RIO,
            write_records([b"\x1a\x01u" * (n // 3 - 8) + _feature(b"v", _ld(2, _ld(1, _f32(1.5))))]),
            False,
        ),
        "one record of many keys": lambda n: (
            RIO,
            write_records(
                [b"".join(_feature(b"k%d" % j, _ld(2, _ld(1, _f32(1.5)))) for j in range(n // 20))]
            ),
            False,
        ),
        "one record of many keys, serving limits (refused)": lambda n: (
            RIO,
            write_records(
                [b"".join(_feature(b"k%d" % j, _ld(2, _ld(1, _f32(1.5)))) for j in range(n // 20))]
            ),
            False,
            SERVING,
        ),
        "300 keys a record, in another order each": lambda n: (
            RIO,
            write_records(
                [
                    b"".join(
                        _feature(b"k%d" % j, _ld(2, _ld(1, _f32(float(j)))))
                        for j in sorted(range(300), key=lambda j, i=i: (7 * j + i) % 300)
                    )
                    for i in range(max(1, n // 5000))
                ]
            ),
            False,
        ),
    },
    "libsvm": {
        "rows of 10 features": lambda n: (
            "text/libsvm",
            _fill(b"1 1:0.5 2:1.25 3:2 4:3.5 5:4 6:5 7:6.5 8:7 9:8 10:9.75\n", n),
            False,
        ),
        "labels only": lambda n: ("text/libsvm", _fill(b"1\n", n), False),
        "comments": lambda n: ("text/libsvm", _fill(b"1 1:2 # a comment\n", n), False),
        "a bad token at the end (refused)": lambda n: (
            "text/libsvm",
            _fill(b"1 1:2 3:4\n", n - 8) + b"1 x:2\n",
            False,
        ),
    },
}


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


def _decode(ct: str, body: bytes, response: bool, limits: Limits | None = None) -> str:
    try:
        batch = (smp.decode_response if response else smp.decode_request)(body, ct, limits=limits)
    except smp.PayloadError as e:
        return type(e).__name__
    return f"{len(batch)} records"


def _measure(fmt: str, name: str, size: int, repeat: int, memory: bool) -> dict[str, object]:
    ct, body, response, *rest = SHAPES[fmt][name](size)
    limits = rest[0] if rest else None
    outcome = _decode(ct, body, response, limits)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        _decode(ct, body, response, limits)
        best = min(best, time.process_time() - t)
    row: dict[str, object] = {
        "format": fmt,
        "shape": name,
        "bytes": len(body),
        "outcome": outcome,
        "ns_per_byte": best / len(body) * 1e9,
    }
    if memory:
        gc.collect()
        tracemalloc.start()
        try:
            _decode(ct, body, response, limits)
            row["peak_x"] = tracemalloc.get_traced_memory()[1] / len(body)
        finally:
            tracemalloc.stop()
    return row


def run(formats: list[str], size: int, repeat: int, memory: bool) -> list[dict[str, object]]:
    rows = []
    for fmt in formats:
        for name in SHAPES[fmt]:
            rows.append(_measure(fmt, name, size, repeat, memory))
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return rows


def _table(rows_c: list[dict[str, object]], rows_pure: list[dict[str, object]] | None, memory: bool) -> str:
    def fastest(rows: list[dict[str, object]], fmt: str) -> float:
        # among the bodies decoded (a body refused in its first bytes is no reference)
        decoded = [r for r in rows if r["format"] == fmt and str(r["outcome"]).endswith(" records")]
        return min(float(r["ns_per_byte"]) for r in decoded or rows if r["format"] == fmt)  # type: ignore[arg-type]

    head = "| format | body | outcome | C ns/B | x fastest |"
    sep = "| --- | --- | --- | --- | --- |"
    if rows_pure is not None:
        head += " pure ns/B | x fastest |"
        sep += " --- | --- |"
    if memory:
        head += " peak / body, C" + (" / pure |" if rows_pure is not None else " |")
        sep += " --- |"
    lines = [head, sep]
    for i, r in enumerate(rows_c):
        fmt = str(r["format"])
        c = float(r["ns_per_byte"])  # type: ignore[arg-type]
        line = f"| {fmt} | {r['shape']} | {r['outcome']} | {c:.1f} | {c / fastest(rows_c, fmt):.1f} |"
        p = rows_pure[i] if rows_pure is not None else None
        if p is not None and rows_pure is not None:
            pv = float(p["ns_per_byte"])  # type: ignore[arg-type]
            line += f" {pv:.1f} | {pv / fastest(rows_pure, fmt):.1f} |"
        if memory:
            peaks = f"{float(r['peak_x']):.1f}"  # type: ignore[arg-type]
            if p is not None:
                peaks += f" / {float(p['peak_x']):.1f}"  # type: ignore[arg-type]
            line += f" {peaks} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SHAPES), help="formats, comma-separated")
    ap.add_argument("--size", type=float, default=6.0, help="body size in MiB (default 6)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="also tracemalloc peaks")
    ap.add_argument("--quick", action="store_true", help="256 KiB bodies, one run")
    ap.add_argument("--no-pure", action="store_true", help="the C path only")
    ap.add_argument("--json", help="write the rows as JSON")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    formats = [f for f in args.only.split(",") if f]
    unknown = sorted(set(formats) - set(SHAPES))
    if unknown:
        ap.error(f"unknown formats {unknown}; known: {sorted(SHAPES)}")
    size = int((0.25 if args.quick else args.size) * (1 << 20))
    repeat = 1 if args.quick else args.repeat
    if args.child:
        print(json.dumps(run(formats, size, repeat, args.memory)))
        return 0
    from sm_payloads import _native

    if _native.load("formats._cjson") is None:
        print("the C extensions are not built: the C rows below are the pure path", file=sys.stderr)
    rows_c = run(formats, size, repeat, args.memory)
    rows_pure = None
    if not args.no_pure:
        env = dict(os.environ, SM_PAYLOADS_PURE_PYTHON="1")
        cmd = [sys.executable, "-m", "benchmarks.bench_worst", "--child", "--only", ",".join(formats)]
        cmd += ["--size", str(args.size), "--repeat", str(args.repeat)]
        cmd += ["--memory"] * args.memory + ["--quick"] * args.quick
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        rows_pure = json.loads(out)
    print(f"bodies of {size / (1 << 20):.2f} MiB, best of {repeat} (process time)")
    print(_table(rows_c, rows_pure, args.memory))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": size, "c": rows_c, "pure": rows_pure}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
