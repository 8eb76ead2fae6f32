"""Run benchmark scripts at two revisions, alternately, and report each row's ratio.

    python -m benchmarks.compare_revisions BASE                # HEAD's working tree vs BASE
    python -m benchmarks.compare_revisions BASE --bench recordio csv --rounds 3
    python -m benchmarks.compare_revisions BASE --json benchmarks/results/compare.json

A restructuring must not trade speed for structure: this checks it. BASE (any git revision)
is checked out into a temporary worktree and its C extensions are built there; then each
script (``benchmarks/bench_<name>.py``, with ``--json``) runs in the base tree and in this
one, in alternating order for ``--rounds`` rounds, each in a fresh process of this
interpreter with the tree on ``PYTHONPATH``, so both sides time the same machine under the
same load. For every row the best time of the rounds is kept; the table gives both and
``head / base`` (below 1: faster now). Each side runs its own version of the script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("recordio", "csv", "json", "serving")


def sh(*cmd: str, cwd: Path) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def run_bench(tree: Path, bench: str, out: Path, extra: list[str]) -> list[dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", f"benchmarks.bench_{bench}", "--json", str(out), *extra]
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    rows: list[dict[str, Any]] = json.loads(out.read_text())["results"]
    return rows


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """What names a row: its string fields except notes and roles."""
    return tuple(str(v) for k, v in sorted(row.items()) if isinstance(v, str) and k not in ("note", "role"))


def timings(row: dict[str, Any]) -> list[tuple[tuple[str, ...], float]]:
    """(name, seconds) of a result row: its ``seconds``, or each ``*_s`` field (bench_serving
    times the codecs and the handler on one row)."""
    if "seconds" in row:
        return [(row_key(row), float(row["seconds"]))]
    return [((*row_key(row), k[:-2]), float(v)) for k, v in row.items() if k.endswith("_s")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the git revision to compare with (e.g. HEAD~1)")
    ap.add_argument("--bench", nargs="+", default=list(BENCHES), choices=BENCHES)
    ap.add_argument("--rounds", type=int, default=2, help="runs per side, alternating (default 2)")
    ap.add_argument("--quick", action="store_true", help="pass --quick to the scripts (a smoke test)")
    ap.add_argument("--json", metavar="FILE", help="also write every row as JSON")
    args = ap.parse_args(argv)
    extra = ["--quick"] if args.quick else []
    with tempfile.TemporaryDirectory(prefix="smp-compare-") as tmp:
        base = Path(tmp) / "base"
        sha = sh("git", "rev-parse", args.base, cwd=ROOT).strip()
        sh("git", "worktree", "add", "--detach", str(base), sha, cwd=ROOT)
        try:
            sh(sys.executable, "setup.py", "-q", "build_ext", "--inplace", cwd=base)
            head_sha = sh("git", "rev-parse", "HEAD", cwd=ROOT).strip()
            dirty = (
                " (with uncommitted changes)" if sh("git", "status", "--porcelain", cwd=ROOT).strip() else ""
            )
            print(f"base {sha[:10]} vs this tree at {head_sha[:10]}{dirty}; {args.rounds} rounds\n")
            report = []
            for bench in args.bench:
                best: dict[str, dict[tuple[str, ...], float]] = {"base": {}, "head": {}}
                for r in range(args.rounds):
                    order = [("base", base), ("head", ROOT)]
                    for side, tree in order if r % 2 == 0 else order[::-1]:
                        rows = run_bench(tree, bench, Path(tmp) / f"{bench}-{side}-{r}.json", extra)
                        for row in rows:
                            for k, seconds in timings(row):
                                best[side][k] = min(best[side].get(k, float("inf")), seconds)
                print(f"## bench_{bench}\n\n| row | base | head | head / base |\n|---|--:|--:|--:|")
                for k, t_base in best["base"].items():
                    t_head = best["head"].get(k)
                    if t_head is None:
                        continue
                    name = " / ".join(k)
                    print(
                        f"| {name} | {t_base * 1e3:.2f} ms | {t_head * 1e3:.2f} ms | {t_head / t_base:.2f} |"
                    )
                    report.append({"bench": bench, "row": list(k), "base_s": t_base, "head_s": t_head})
                print()
            if args.json:
                Path(args.json).write_text(
                    json.dumps({"base": sha, "head": head_sha, "rows": report}, indent=2)
                )
        finally:
            sh("git", "worktree", "remove", "--force", str(base), cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
