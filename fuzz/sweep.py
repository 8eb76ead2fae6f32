"""Every small record shape in every envelope, at about 1 MiB: the memory bound, checked
deterministically.

The fuzzer's scaled inputs repeat a line or RecordIO body; a JSON document repeated is no
longer a document, and a small input's peak hides under the bound's 8 MiB base. So records
of a few bytes in a JSON list or envelope (where one object per value is 30 to 40 x the
text) were not tried: ``{"a": {}}``, ``[[]]``, ``[{}]``, ``{}`` response lines went past the
bound on the C path until they were found by hand. This sweep writes each unit (a record
of up to 20 bytes, sound or not) about 1 MiB over, in a bare list, an ``instances`` or a
``predictions`` envelope and as JSON Lines, decodes it as a request and as a response, and
checks the peak that ``tracemalloc`` traces (numpy's buffers included) against the bound of
docs/reliability.md (32 x the body + 8 MiB). CPU time per byte is reported, not checked.

    python -m fuzz.sweep                  # the default path (C where built)
    SM_PAYLOADS_PURE_PYTHON=1 python -m fuzz.sweep
    python -m fuzz.sweep --size 6 --top 20   # 6 MiB bodies, the 20 highest peaks

The exit status is 1 when a body passes the bound, so a CI step fails on one.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable

import sm_payloads as smp

#: Records of up to 20 bytes: containers empty and not, strings, numbers, the literals the
#: grammar refuses, tensor objects, the request layouts' objects.
UNITS: tuple[bytes, ...] = (
    b"[]",
    b"{}",
    b"[[]]",
    b"[[[[]]]]",
    b"[{}]",
    b"[[],[]]",
    b"[1,[]]",
    b"[[1],[]]",
    b"[0]",
    b"[[0]]",
    b"[0,0]",
    b'""',
    b'"a"',
    b'[""]',
    b'["a"]',
    b'[[""]]',
    b"0",
    b"-0",
    b"1e5",
    b"null",
    b"true",
    b'{"a":[]}',
    b'{"a":{}}',
    b'{"a":""}',
    b'{"a":0}',
    b'{"a":null}',
    b'{"a":[[]]}',
    b'{"a":[{}]}',
    b'{"a":[""]}',
    b'{"a":[[0]]}',
    b'{"a":{"b":0}}',
    b'{"a":{"values":[]}}',
    b'{"a":{"shape":[]}}',
    b'{"a":{"shape":[1]}}',
    b'{"a":0,"b":[]}',
    b'{"a":0,"a":1}',
    b'{"":0}',
    b'{"data":{}}',
    b'{"label":{}}',
    b'{"data":{"a":[]}}',
    b'{"uid":"a"}',
    b'{"features":{}}',
    b'[{"a":0}]',
)

#: (name, head, separator, tail, content type)
WRAPS: tuple[tuple[str, bytes, bytes, bytes, str], ...] = (
    ("list", b"[", b",", b"]", "application/json"),
    ("instances", b'{"instances":[', b",", b"]}", "application/json"),
    ("predictions", b'{"predictions":[', b",", b"]}", "application/json"),
    ("lines", b"", b"\n", b"\n", "application/jsonlines"),
)

MEM_BASE = 8 << 20
MEM_PER_BYTE = 32


def _outcome(decode: Callable[[bytes, str], smp.RecordBatch], body: bytes, ct: str) -> str:
    try:
        return f"{decode(body, ct).n} records"
    except smp.PayloadError as e:
        return type(e).__name__


def sweep(size: int) -> list[tuple[float, float, str, str, str, str]]:
    """(peak / body, CPU ns a byte, unit, wrap, role, outcome) of every body."""
    rows = []
    for unit in UNITS:
        for name, head, sep, tail, ct in WRAPS:
            body = head + sep.join([unit] * max(1, size // (len(unit) + len(sep)))) + tail
            for role, decode in (("request", smp.decode_request), ("response", smp.decode_response)):
                gc.collect()
                t = time.process_time()
                outcome = _outcome(decode, body, ct)
                seconds = time.process_time() - t
                gc.collect()
                tracemalloc.start()
                try:
                    _outcome(decode, body, ct)
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                rows.append((peak / len(body), seconds / len(body) * 1e9, unit.decode(), name, role, outcome))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=float, default=1.0, help="body size in MiB (default 1)")
    ap.add_argument("--top", type=int, default=10, help="print the bodies of the highest peaks")
    args = ap.parse_args(argv)
    size = int(args.size * (1 << 20))
    rows = sweep(size)
    bound_x = MEM_PER_BYTE + MEM_BASE / size
    over = [r for r in rows if r[0] > bound_x]
    print(f"{len(rows)} bodies of about {args.size:g} MiB; the bound is {bound_x:.1f} x the body")
    print("| peak / body | CPU ns a byte | record | envelope | decoded as | outcome |")
    print("| --- | --- | --- | --- | --- | --- |")
    for peak_x, ns, unit, wrap, role, outcome in sorted(rows, reverse=True)[: args.top]:
        print(f"| {peak_x:.1f} | {ns:.1f} | `{unit}` | {wrap} | {role} | {outcome} |")
    slowest = max(rows, key=lambda r: r[1])
    print(f"slowest: `{slowest[2]}` {slowest[3]} {slowest[4]}, {slowest[1]:.1f} ns a byte")
    for r in over:
        print(f"OVER THE BOUND: `{r[2]}` {r[3]} {r[4]}: {r[0]:.1f} x", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
