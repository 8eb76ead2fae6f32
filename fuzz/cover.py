"""Line coverage of each harness's own module(s), from replaying its corpus.

    python -m fuzz.cover DIR [--only NAME[,NAME...]] [--markdown]

libFuzzer's ``cov`` counts edges over the whole instrumented package; this says how much of
the decoder under test the grown corpus (``DIR/corpus/<harness>``) executes: lines of
function bodies run at least once / lines of function bodies in the module. It replays
every corpus file through the harness under a ``sys.settrace`` line tracer (no extra
dependency), so it takes a while for large corpora.
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sm_payloads

PKG = Path(sm_payloads.__file__).resolve().parent

#: The module(s) each harness is about (paths relative to the package).
MODULES: dict[str, tuple[str, ...]] = {
    "recordio": ("recordio.py",),
    "recordio_protobuf": ("formats/recordio_protobuf.py", "formats/_record_reader.py", "formats/_wire.py"),
    "csv": ("formats/csv.py",),
    "json": ("formats/json.py",),
    "jsonlines": ("formats/jsonlines.py",),
    "npy": ("formats/npy.py",),
    "libsvm": ("formats/libsvm.py",),
    "algorithms": ("algorithms.py",),
    "mime": ("mime.py",),
    "serving": ("serving.py", "registry.py"),
}


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield const
            yield from _code_objects(const)


def body_lines(path: Path) -> set[int]:
    """Lines of the module's function and method bodies (not its top level)."""
    code = compile(path.read_text(), str(path), "exec")
    lines: set[int] = set()
    for c in _code_objects(code):
        lines.update(line for _, _, line in c.co_lines() if line is not None and line != c.co_firstlineno)
    return lines


def replay(name: str, corpus: Path) -> tuple[dict[str, set[int]], int]:
    """Run every corpus file through harness `name` under a line tracer."""
    from .harness import check
    from .targets import TARGETS

    files = {str(PKG / m): m for m in MODULES[name]}
    hit: dict[str, set[int]] = {m: set() for m in MODULES[name]}

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            hit[files[frame.f_code.co_filename]].add(frame.f_lineno)
        return local

    def global_(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename in files else None

    run = TARGETS[name].run
    paths = sorted(p for p in corpus.iterdir() if p.is_file()) if corpus.is_dir() else []
    sys.settrace(global_)
    try:
        for p in paths:
            check(run, p.read_bytes(), measure_memory=False)
    finally:
        sys.settrace(None)
    return hit, len(paths)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fuzz.cover", description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path, help="a fuzz.run work dir (with corpus/<harness>)")
    ap.add_argument("--only", help="comma-separated harness names")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    names = list(MODULES) if not args.only else [n.strip() for n in args.only.split(",")]
    rows = []
    for name in names:
        hit, n = replay(name, args.work / "corpus" / name)
        parts = []
        for module in MODULES[name]:
            total = body_lines(PKG / module)
            got = len(hit[module] & total)
            parts.append(f"{module} {got}/{len(total)} ({100 * got / max(1, len(total)):.0f}%)")
        rows.append((name, str(n), "; ".join(parts)))
        print(f"{name}: {n} corpus inputs; " + "; ".join(parts), file=sys.stderr, flush=True)
    head = ("harness", "corpus inputs", "lines of the module's functions run by the corpus")
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        for r in rows:
            print("  ".join(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
