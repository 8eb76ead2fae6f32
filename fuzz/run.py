"""Run every fuzz harness, each in its own subprocess, and print a summary table.

    python -m fuzz.run [--seconds N | --runs N] [--only NAME[,NAME...]] [--rounds R]
                       [--work DIR] [--findings FILE] [--max-len BYTES]
    python -m fuzz.run --report DIR [--markdown]

Each harness starts from a corpus directory ``DIR/corpus/<name>`` seeded at run time from
`fuzz.targets` (fixtures and small valid payloads; nothing binary is committed) and grows
it; logs go to ``DIR/logs``, findings (ours and libFuzzer's ``crash-``/``timeout-``/``oom-``
artifacts) to ``DIR/crashes``. ``--rounds`` cycles through the harnesses again and again (a
long run), adding up the inputs executed; ``DIR/summary.json`` is rewritten after every
harness run, so ``--report DIR`` shows the totals while a long run is still going.

The exit status is 1 when any finding exists, so a CI step fails on one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", re.M)
_UNITS = re.compile(r"stat::number_of_executed_units: (\d+)")
_ARTIFACT = re.compile(r"^(crash|timeout|oom|leak|slow-unit)-")
ROOT = Path(__file__).resolve().parent.parent


def seed_corpus(name: str, corpus: Path) -> int:
    """Write the target's seeds into `corpus` (idempotent). Returns how many there are."""
    from .targets import TARGETS

    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in TARGETS[name].seed_inputs():
        path = corpus / f"seed-{hashlib.sha1(data).hexdigest()}"
        if not path.exists():
            path.write_bytes(data)
        n += 1
    return n


def parse_log(text: str) -> dict[str, int]:
    """Inputs executed, coverage (edges) and features as libFuzzer reported them."""
    units = [int(m) for m in _UNITS.findall(text)]
    status = _STATUS.findall(text)
    executed = units[-1] if units else (int(status[-1][0]) if status else 0)
    cov = max((int(c) for _, c, _ in status), default=0)
    ft = max((int(f) for _, _, f in status), default=0)
    return {"executed": executed, "cov": cov, "ft": ft, "findings": text.count("\nFINDING ")}


def _load(path: Path) -> dict[str, Any]:
    if path.is_file():
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    return {"targets": {}, "started": time.time()}


def _artifacts(crashes: Path, name: str) -> list[Path]:
    if not crashes.is_dir():
        return []
    return sorted(p for p in crashes.iterdir() if p.name.startswith(f"{name}-") and p.suffix in (".bin", ""))


def _note_artifact(path: Path, name: str, findings: Path | None) -> None:
    """A libFuzzer artifact (a hang or an out-of-memory kill): append a reproducer once."""
    marker = path.with_name(path.name + ".noted")
    if findings is None or marker.exists():
        return
    data = path.read_bytes()
    shown = data if len(data) <= 300 else data[:300] + b"..."
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with findings.open("a") as f:
        f.write(
            f"\n## fuzz/{name}: libFuzzer artifact {path.name}  ({now})\n\n"
            f"{len(data)} bytes, first byte = selector (fuzz/targets.py `run_{name}`): `{shown!r}`\n\n"
            f"Reproduce: `python -m fuzz.harness {name} {path}`\n"
        )
    marker.write_text("")


def run_one(
    name: str, work: Path, *, seconds: int | None, runs: int | None, max_len: int, findings: Path | None
) -> dict[str, int]:
    """One harness in a subprocess (restarted after a libFuzzer exit until its budget is spent)."""
    corpus = work / "corpus" / name
    crashes = work / "crashes"
    logs = work / "logs"
    crashes.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    seed_corpus(name, corpus)
    env = dict(os.environ)
    if findings is not None:
        env["SMP_FUZZ_FINDINGS"] = str(findings)
    env.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    total = {"executed": 0, "cov": 0, "ft": 0, "findings": 0, "seconds": 0, "restarts": 0}
    deadline = time.monotonic() + seconds if seconds is not None else None
    left_runs = runs
    before = set(_artifacts(crashes, name))
    for attempt in range(4):
        budget: list[str] = []
        if deadline is not None:
            remaining = int(deadline - time.monotonic())
            if remaining < 2:
                break
            budget.append(f"-max_total_time={remaining}")
        if left_runs is not None:
            budget.append(f"-runs={left_runs}")
        cmd = [
            sys.executable,
            "-m",
            "fuzz.harness",
            name,
            "--crash-dir",
            str(crashes),
            *budget,
            "-print_final_stats=1",
            f"-max_len={max_len}",
            "-timeout=30",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={crashes}/{name}-",
            str(corpus),
        ]
        log = logs / f"{name}.{time.strftime('%Y%m%dT%H%M%S')}.{attempt}.log"
        t0 = time.monotonic()
        with log.open("w") as out:
            rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        got = parse_log(log.read_text(errors="replace"))
        total["executed"] += got["executed"]
        total["cov"] = max(total["cov"], got["cov"])
        total["ft"] = max(total["ft"], got["ft"])
        total["findings"] += got["findings"]
        total["seconds"] += int(time.monotonic() - t0)
        if rc == 0:
            break
        total["restarts"] += 1
        if left_runs is not None:
            left_runs = max(0, left_runs - got["executed"])
            if left_runs == 0:
                break
    for path in set(_artifacts(crashes, name)) - before:
        if _ARTIFACT.match(path.name[len(name) + 1 :]):
            _note_artifact(path, name, findings)
    return total


def distinct_findings(crashes: Path, name: str) -> list[str]:
    """Our findings (one ``.bin`` per signature) and libFuzzer's artifacts for `name`."""
    return [p.name for p in _artifacts(crashes, name) if not p.name.endswith(".noted")]


def finding_kind(target: str, file_name: str) -> str:
    """The kind of a finding's file (``<target>-<kind>-<signature hash>.bin``, or a
    libFuzzer artifact ``<target>-crash-...``, ``-timeout-``, ``-oom-``)."""
    rest = Path(file_name).stem[len(target) + 1 :]
    m = _ARTIFACT.match(rest)
    return m.group(1) if m else rest.rsplit("-", 1)[0]


def table(summary: dict[str, Any], work: Path, *, markdown: bool = False) -> str:
    from .targets import TARGETS

    rows = []
    grand = 0
    for name in TARGETS:
        t = summary["targets"].get(name)
        if t is None:
            continue
        found = distinct_findings(work / "crashes", name)
        grand += t["executed"]
        rows.append(
            (
                name,
                f"{t['executed']:,}",
                str(t["cov"]),
                str(t["ft"]),
                str(t["seconds"]),
                str(len(found)),
                TARGETS[name].what,
            )
        )
    head = ("harness", "inputs executed", "cov (edges)", "features", "seconds", "findings", "what it calls")
    rows.append(("total", f"{grand:,}", "", "", str(sum(int(r[4]) for r in rows)), "", ""))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head[:-1]), *(fmt.format(*r[:-1]) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    from .targets import TARGETS

    ap = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n\n")[0])
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=int, help="seconds per harness per round (default 20)")
    budget.add_argument("--runs", type=int, help="inputs per harness per round")
    ap.add_argument("--only", help="comma-separated harness names")
    ap.add_argument("--rounds", type=int, default=1, help="cycle through the harnesses this many times")
    ap.add_argument("--work", type=Path, help="corpus, logs, crashes and summary.json (default: a temp dir)")
    ap.add_argument("--findings", type=Path, help="append a reproducer for each new finding to this file")
    ap.add_argument("--max-len", type=int, default=4096, help="largest input libFuzzer makes (bytes)")
    ap.add_argument("--report", type=Path, metavar="DIR", help="print the table of an earlier or running run")
    ap.add_argument("--markdown", action="store_true", help="the table as Markdown")
    ap.add_argument(
        "--tolerate",
        default="",
        metavar="KINDS",
        help="comma-separated finding kinds (e.g. slow-per-byte): printed, but the exit status stays 0",
    )
    args = ap.parse_args(argv)

    if args.report is not None:
        summary = _load(args.report / "summary.json")
        print(table(summary, args.report, markdown=args.markdown))
        return 0
    names = list(TARGETS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown harness {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    seconds = args.seconds if args.seconds is not None or args.runs is not None else 20
    work = args.work or Path(tempfile.mkdtemp(prefix="smp-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    summary_path = work / "summary.json"
    summary = _load(summary_path)
    for rnd in range(args.rounds):
        for name in names:
            got = run_one(
                name, work, seconds=seconds, runs=args.runs, max_len=args.max_len, findings=args.findings
            )
            t = summary["targets"].setdefault(
                name, {"executed": 0, "cov": 0, "ft": 0, "seconds": 0, "findings": 0, "runs": 0}
            )
            t["executed"] += got["executed"]
            t["cov"] = max(t["cov"], got["cov"])
            t["ft"] = max(t["ft"], got["ft"])
            t["seconds"] += got["seconds"]
            t["findings"] += got["findings"]
            t["runs"] += 1
            summary["updated"] = time.time()
            summary["rounds_done"] = rnd + (name == names[-1])
            summary_path.write_text(json.dumps(summary, indent=1))
            print(
                f"[round {rnd + 1}/{args.rounds}] {name}: {got['executed']:,} inputs, cov {got['cov']}, "
                f"ft {got['ft']}, {got['findings']} finding(s), {got['restarts']} restart(s)",
                flush=True,
            )
    print()
    print(table(summary, work, markdown=args.markdown))
    print(f"\nwork dir: {work}")
    found = [(n, f) for n in names for f in distinct_findings(work / "crashes", n)]
    tolerated = {k.strip() for k in args.tolerate.split(",") if k.strip()}
    failing = [f for n, f in found if finding_kind(n, f) not in tolerated]
    for _, name in found:  # what a CI log must show: the input and the outcome of each finding
        detail = (work / "crashes" / name).with_suffix(".txt")
        print(f"\n--- {name}" + ("" if name in failing else " (tolerated: --tolerate)"))
        if detail.exists():
            lines = detail.read_text(errors="replace").rstrip().splitlines()
            if len(lines) > 40:  # the head (target, kind, input) and the traceback's end
                lines = [*lines[:12], "...", *lines[-28:]]
            print("\n".join(lines))
    return 1 if failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
