"""A key given twice in one record (orjson, and so the general path, reads the last) is
declined by the C kernels, and read by their twins (which read what orjson parsed) before
the general path: 450 to 660 ns a byte on 5 MB of 8-byte records -> 75 to 130, at a peak
of 7 x the body (the general path's was 33 x). Every body gives the general path's outcome
on every path; expected values are written out."""

from __future__ import annotations

from typing import Any

import pytest

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from sm_payloads.formats import jsonlines as JL
from tests.test_json_general_fast import all_paths


def _no_general_group(*a: Any, **k: Any) -> Any:
    raise AssertionError("the general path ran")


@pytest.mark.parametrize(
    ("body", "lines", "want"),
    [
        (b'{"instances": [{"a": 1, "a": 2}, {"a": 3}]}', False, {"a": [2.0, 3.0]}),
        (
            b'[{"a": 1, "b": [1, 2], "a": 5}, {"b": [3, 4], "a": 6}]',
            False,
            {"a": [5.0, 6.0], "b": [[1.0, 2.0], [3.0, 4.0]]},
        ),
        (b'{"a": 1, "a": 2}\n{"a": 3}\n', True, {"a": [2.0, 3.0]}),
        (b'{"a": "x", "b": 1, "a": "y"}\n{"b": 2, "a": "z"}\n', True, {"a": ["y", "z"], "b": [1.0, 2.0]}),
    ],
)
def test_the_last_of_a_key_given_twice(body: bytes, lines: bool, want: dict[str, Any]) -> None:
    got = all_paths(body, lines)
    assert isinstance(got, smp.RecordBatch)
    assert {k: v.tolist() for k, v in got.features.items()} == want
    if J._CREC is not None:  # read by the twins, not the general path
        with pytest.MonkeyPatch.context() as m:
            m.setattr(JS, "GeneralGroup", _no_general_group)
            m.setattr(JL, "_groups", _no_general_group)
            again = (JL.decode if lines else JS.decode)(body)
        assert {k: v.tolist() for k, v in again.features.items()} == want


def test_an_error_after_a_key_given_twice_is_the_general_paths() -> None:
    got = all_paths(b'[{"a": 1, "a": 2}, {"a": null}]', False)
    assert got == (
        "error",
        "$[1].a: expected a number, a string, a list or a tensor object, found null",
        25,
        None,
        1,
    )
