"""The documentation runs as written, and the repository stands alone.

pytest's doctest collection runs every ``>>>`` example in docs/ and README.md (pyproject's
``--doctest-glob=*.md``). This file runs the other fenced ``python`` blocks as scripts, so a
snippet that uses a name it never defines fails here. A block that is an API signature listing
is marked with ``<!-- signature -->`` on the line before its fence, and one that needs
something a test cannot have (a SageMaker endpoint, a cluster) with ``<!-- not-run: why -->``;
both show up as skips with that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from .helpers import ROOT

PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
#: A fenced Python block (``` or ~~~, "python" or "py" in any case, attributes allowed, the
#: fence indented or not), with the mark on the line before it if there is one.
FENCE = re.compile(
    r"^(?:<!-- (signature|not-run: [^>]*?) -->\n)?"
    r"[ \t]*(```|~~~)[ \t]*(?i:python|py)\b[^\n]*\n(.*?)^[ \t]*\2",
    re.M | re.S,
)
OPENING = re.compile(r"^[ \t]*(```|~~~)[ \t]*(?i:python|py)\b", re.M)


class Block(NamedTuple):
    page: str
    line: int
    mark: str | None
    code: str


def python_blocks() -> list[Block]:
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        found = list(FENCE.finditer(text))
        name = page.relative_to(ROOT).as_posix()
        assert len(found) == len(OPENING.findall(text)), f"{name}: a Python block is not closed"
        for m in found:
            line = text.count("\n", 0, m.start(3))
            blocks.append(Block(name, line, m.group(1), textwrap.dedent(m.group(3))))
    return blocks


SCRIPTS = [b for b in python_blocks() if ">>>" not in b.code]


@pytest.mark.parametrize("block", SCRIPTS, ids=[f"{b.page}:{b.line}" for b in SCRIPTS])
def test_python_block_runs_as_written(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.mark == "signature":
        pytest.skip("an API signature listing, not runnable code")
    if block.mark is not None:
        pytest.skip(block.mark)
    monkeypatch.chdir(tmp_path)
    code = compile(block.code, f"{block.page}:{block.line}", "exec")
    exec(code, {"__name__": "__doc_block__"})


def test_blocks_are_found() -> None:
    """The pattern sees the blocks (a changed fence style would silently skip them all)."""
    by_page = {b.page for b in python_blocks()}
    assert {"README.md", "docs/record.md", "docs/formats/csv.md"} <= by_page
    assert any(b.mark == "signature" for b in python_blocks())


def tracked_files() -> list[Path]:
    if (ROOT / ".git").exists():
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, env={**os.environ}
        ).stdout
        return [ROOT / name for name in out.decode().split("\0") if name]
    skip = {".venv", ".git", "build", "__pycache__", ".hypothesis"}
    return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def test_nothing_points_outside_the_repository() -> None:
    """No file cites the reference documents the project was written from, or reads a folder
    beside the checkout: everything a reader or a test needs is in the repository."""
    # Spelled in pieces so that this file does not match itself.
    outside = re.compile(
        "|".join(
            [
                r"API" + r"\.md",
                r"FORMATS" + r"\.md",
                r"\.\./" + "shared",
                r"seeds" + "/0",
                r"\bseed" + r"s? 0\d\d",
            ]
        )
    )
    hits = []
    for path in tracked_files():
        if path.suffix in {".rec", ".npy", ".so", ".png"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hits += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if outside.search(line)
        ]
    assert hits == []


ACCELERATORS = re.compile(r"<!-- accelerators -->\n(.*?)\n<!-- /accelerators -->", re.S)


def test_the_c_accelerators_have_one_description_everywhere() -> None:
    """README, docs/index.md, docs/performance.md and the loader's docstring describe the C
    extensions with the same paragraph, which names every one that setup.py builds."""
    places = ["README.md", "docs/index.md", "docs/performance.md", "sm_payloads/_native.py"]
    found = {p: ACCELERATORS.findall((ROOT / p).read_text(encoding="utf-8")) for p in places}
    assert {p: len(f) for p, f in found.items()} == dict.fromkeys(places, 1)
    assert len({f[0] for f in found.values()}) == 1
    text = found["README.md"][0]
    built = re.findall(r'_ext\("(\w+)"\)', (ROOT / "setup.py").read_text(encoding="utf-8"))
    assert len(built) == 6
    for name in built:
        assert f"`sm_payloads.formats.{name}`" in text, name
    # Every compiled function (as the type stubs list them) is in docs/performance.md's tables.
    performance = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    for name in built:
        text = (ROOT / "sm_payloads" / "formats" / f"{name}.pyi").read_text(encoding="utf-8")
        names = re.findall(r"^def (\w+)", text, re.M)
        assert len(names) >= 1
        for name in names:
            assert f"| `{name}`" in performance or f", `{name}`" in performance, name
