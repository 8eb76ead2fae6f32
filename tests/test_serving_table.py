"""Every row of the serving table in docs/serving.md, answered by the handler."""

from __future__ import annotations

from pathlib import Path

import pytest

import sm_payloads as smp

from .serving_cases import BODIES, CASES, PREDICT, Case, ours

DOC = Path(__file__).resolve().parents[1] / "docs" / "serving.md"
BEGIN, END = "<!-- serving-table:begin -->", "<!-- serving-table:end -->"


def _show(value: str | None) -> str:
    if value is None:
        return "*(missing)*"
    return f"`{value}`" if value.strip() else "*(empty)*"


def _clip(text: str, n: int = 110) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def render() -> str:
    lines = [
        "| # | Content-Type | Accept | body | inference-toolkit | sm_payloads |",
        "|--:|---|---|---|---|---|",
    ]
    for i, c in enumerate(CASES, 1):
        env = "".join(f" ({k}={v})" for k, v in c.env.items())
        body = c.body + (" (predict raises)" if c.predict == "raise" else "")
        cells = [str(i), _show(c.content_type), _show(c.accept) + env, body, c.toolkit, _clip(ours(c)[1])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_at_least_forty_variants() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[f"{i}" for i in range(1, len(CASES) + 1)])
def test_every_row_answers_as_documented(case: Case) -> None:
    status, text = ours(case)
    ct = (case.content_type or "").strip()
    # The rules the table demonstrates, checked independently of the rendering:
    if case.predict == "raise":
        assert status == 500 and "secret" not in text
    elif not ct:
        assert status == 415
    elif case.body in ("bad-json", "bad-utf8", "csv-ragged", "npy-garbage", "npy-pickle"):
        assert status == 400
    elif case.body in ("ragged", "csv-header") and "header=present" not in ct:
        assert status == 500  # decoded (ragged / text columns); the demo model cannot use them
    if status == 200:
        assert smp.MediaType.parse(text.split(" ", 1)[1]).essence in smp.registry.response_types()
    assert status in (200, 400, 406, 415, 500)


def test_doc_table_is_current() -> None:
    doc = DOC.read_text()
    table = doc[doc.index(BEGIN) + len(BEGIN) : doc.index(END)].strip()
    assert table == render(), "run: python -m scripts.serving_table to refresh docs/serving.md"


def test_bodies_and_predicts_are_all_used() -> None:
    assert {c.body for c in CASES} == set(BODIES)
    assert {c.predict for c in CASES} == set(PREDICT)
