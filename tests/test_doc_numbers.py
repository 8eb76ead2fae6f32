"""The README's and docs/index.md's speed ratios are numbers of docs/benchmarks.md.

A consistency check on the text, not a timing: every ratio claim such as ``143x`` or
``6.1x`` in those pages must appear, spelled the same, in docs/benchmarks.md, whose tables
come from runs of benchmarks/.
"""

from __future__ import annotations

import re

import pytest

from .helpers import ROOT

RATIO = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)x\b")
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
PAGES = ["README.md", "docs/index.md"]


def ratios(text: str) -> set[str]:
    return {m.group(1) + "x" for m in RATIO.finditer(text)}


def test_the_pattern_finds_ratio_claims() -> None:
    assert ratios("143x faster, 6.1x `loadtxt`, 0x1F, x86_64, 3.5") == {"143x", "6.1x"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {"143x", "157x"} <= ratios(readme)


@pytest.mark.parametrize("page", PAGES)
def test_ratio_claims_appear_in_benchmarks_md(page: str) -> None:
    claims = ratios((ROOT / page).read_text(encoding="utf-8"))
    missing = sorted(claims - ratios(BENCHMARKS))
    assert not missing, f"{page} claims {missing}, which docs/benchmarks.md does not show"
