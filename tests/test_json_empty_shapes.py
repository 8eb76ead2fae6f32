"""Records of empty shapes: a tensor object ``{}`` (no values, no shape: what the grammar
reads as ``{"values": []}``) and nested lists whose deepest level is empty (``[[]]``, of
shape (1, 0), as numpy reads it). The kernels declined both, so 6 MiB of 8-byte records of
them went to the general path: 550-1070 ns a byte and 36-41 x the body in memory, past the
bound of 32 x + 8 MB, on the C path too. Now the column reader, the request scanner and
their twins read them; every body gives what the general path gives (expected values
written out), and long bodies stay far within the memory bound on both paths."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.columns import Ragged
from sm_payloads.formats import _json_layout as J
from tests.helpers import bound, peak
from tests.test_json_general_fast import all_paths, decode, general_path, outcome, pure, same_outcome

# --------------------------------------------------------------------------------------
# {}: a tensor object of no values
# --------------------------------------------------------------------------------------


def test_empty_tensor_objects_are_empty_lists() -> None:
    got = all_paths(b'[{"a": {}}, {"a": {}}, {"a": {"values": []}}]', False)
    assert isinstance(got, smp.RecordBatch) and got.n == 3
    a = got.features["a"]
    assert isinstance(a, np.ndarray) and a.shape == (3, 0) and a.dtype == np.float64


def test_an_empty_tensor_object_among_lists_is_a_ragged_row() -> None:
    got = all_paths(b'{"instances": [{"a": {"values": [1, 2]}, "b": 3}, {"a": {}, "b": 4}]}', False)
    assert isinstance(got, smp.RecordBatch)
    a = got.features["a"]
    assert isinstance(a, Ragged) and a.to_lists() == [[1.0, 2.0], []]
    assert got.features["b"].tolist() == [3.0, 4.0]


def test_empty_tensor_objects_in_a_label_and_a_data_object() -> None:
    body = b'[{"data": {"x": {}}, "label": {"y": {}}}, {"data": {"x": [5]}, "label": {"y": {"values": [6]}}}]'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["x"].to_lists() == [[], [5.0]]
    assert got.label["y"].to_lists() == [[], [6.0]]


def test_empty_tensor_objects_in_json_lines() -> None:
    got = all_paths(b'{"a": {}, "b": 1}\n{"a": {}, "b": 2}\n', True)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["a"].shape == (2, 0) and got.features["b"].tolist() == [1.0, 2.0]


def test_the_column_reader_reads_an_empty_tensor_object() -> None:
    if J._CREC is None:
        pytest.skip("the C extension is not built")
    body = b'[{"a": {}, "b": 1}, {"a": {}, "b": 2}]'
    got = J._CREC.json_records(body, 0, len(body), False, True)
    assert got is not None and got[0] == 2 and [c[:2] for c in got[1]] == [("a", "v"), ("b", "n")]
    twin = J.records_pure(body, 0, len(body), False, True)
    assert twin is not None and [c[:2] for c in twin[1]] == [("a", "v"), ("b", "n")]


# --------------------------------------------------------------------------------------
# Nested lists whose deepest level is empty
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        (b"[[[]], [[]], [[]]]", (3, 1, 0)),
        (b"[[[], []], [[], []]]", (2, 2, 0)),
        (b'{"instances": [[[[]]], [[[]]]]}', (2, 1, 1, 0)),
        (b'[{"features": [[]]}, {"features": [[]]}]', (2, 1, 0)),
    ],
)
def test_records_of_empty_nested_lists(body: bytes, shape: tuple[int, ...]) -> None:
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    v = got.features["values"]
    assert isinstance(v, np.ndarray) and v.shape == shape and v.dtype == np.float64


def test_a_key_of_empty_nested_lists_beside_others() -> None:
    got = all_paths(b'[{"a": [[]], "b": 1}, {"a": [[]], "b": 2}]', False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["a"].shape == (2, 1, 0) and got.features["b"].tolist() == [1.0, 2.0]
    got = all_paths(b'{"a": [[[]]], "b": "x"}\n{"a": [[[]]], "b": "y"}\n', True)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["a"].shape == (2, 1, 1, 0) and got.features["b"].tolist() == ["x", "y"]


@pytest.mark.parametrize(
    "body",
    [
        b"[[[]], [[1]]]",  # an empty level beside a level of numbers
        b"[[[]], [[], []]]",  # two shapes
        b"[[[[]]], [[]]]",  # two ranks
        b'[{"a": [[]]}, {"a": [1]}]',  # a nested list beside a flat one
        b'[{"a": [[]]}, {"a": [[2]]}]',
    ],
)
def test_empty_levels_the_records_do_not_share_are_the_general_paths(body: bytes) -> None:
    all_paths(body, False)  # (the same outcome on every path)
    if J._CREC is not None:
        assert J._CREC.json_records(body, 0, len(body), False, True) is None


def test_the_twin_reads_an_empty_deepest_level() -> None:
    assert J._nested_parts([[]]) == ([], (1, 0))
    assert J._nested_parts([[[]], [[]]]) == ([], (2, 1, 0))
    assert J._nested_parts([[], [1]]) is None
    assert J._nested_parts([]) is None  # a flat empty list is no nested list


_NESTED = st.recursive(
    st.lists(st.integers(-2, 2), max_size=2),
    lambda inner: st.lists(inner, max_size=2),
    max_leaves=4,
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(_NESTED, st.just({}), st.just({"values": []})), min_size=1, max_size=4),
    lines=st.booleans(),
    keyed=st.booleans(),
)
def test_every_path_reads_empty_shapes_as_the_general_path(
    values: list[Any], lines: bool, keyed: bool
) -> None:
    recs = [{"a": v, "b": i} if keyed else v for i, v in enumerate(values)]
    if lines:
        body = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
    else:
        body = json.dumps({"instances": recs}).encode()
    got = outcome(lambda: decode(body, lines))
    with general_path():
        want = outcome(lambda: decode(body, lines))
    with pure():
        twin = outcome(lambda: decode(body, lines))
    same_outcome(got, want)
    same_outcome(twin, want)


# --------------------------------------------------------------------------------------
# Memory of long bodies of them, on both paths
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    [b'{"a": {}}', b"[[]]", b"[[[[]]]]", b'{"a": [[]]}', b'{"a": [[[]]], "b": 1}', b"[[], []]"],
)
@pytest.mark.parametrize("path", ["C", "pure"])
def test_long_bodies_of_empty_shapes_within_the_bound(unit: bytes, path: str) -> None:
    if path == "C" and J._CREC is None:
        pytest.skip("the C extension is not built")
    body = b"[" + b",".join([unit] * 200_000) + b"]"

    def run() -> int:
        if path == "pure":
            with pure():
                return decode(body, False).n
        return decode(body, False).n

    assert run() == 200_000
    got = peak(run)
    assert got < bound(body)
    assert got < (4 if path == "C" else 24) * len(body)


# --------------------------------------------------------------------------------------
# A response of only {}: its records, without a column
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "lines", "n"),
    [
        (b"[{}, {}, {}]", False, 3),
        (b'{"predictions": [{}, {}]}', False, 2),
        (b'{"projections": [{}, {}]}', False, 2),
        (b"{}\n\n{}\n{}\n{}\n", True, 4),
    ],
)
def test_a_response_of_only_empty_records(body: bytes, lines: bool, n: int) -> None:
    got = all_paths(body, lines, True)
    assert isinstance(got, smp.RecordBatch)
    assert got.n == n and dict(got.label) == {} and dict(got.features) == {}
    if J._CREC is not None:
        read = J._CREC.json_records(body, 0, len(body), lines, False)
        assert read is not None and read[0] == n and read[1] == []
        # the Autopilot reader (texts) and check mode still decline it
        assert J._CREC.json_records(body, 0, len(body), lines, False, True, True) is None
    assert J.records_pure(body, 0, len(body), lines) == (n, [])
    assert J.records_pure(body, 0, len(body), lines, empties=False) is None


def test_memory_of_a_long_response_of_only_empty_records() -> None:
    body = b"{}\n" * 400_000
    assert decode(body, True, True).n == 400_000
    assert peak(lambda: decode(body, True, True)) < 2 * len(body)  # (31 x on the general path)


# --------------------------------------------------------------------------------------
# Tensor objects in responses: the column reader's too (but the Autopilot reader's)
# --------------------------------------------------------------------------------------


def test_response_tensor_objects_of_one_value_are_scalars() -> None:
    got = all_paths(b'[{"a": {"values": [1]}, "b": 2}, {"a": {"values": [3]}, "b": 4}]', False, True)
    assert isinstance(got, smp.RecordBatch)
    assert got.label["a"].tolist() == [1.0, 3.0] and got.label["a"].shape == (2,)
    assert got.label["b"].tolist() == [2.0, 4.0]


@pytest.mark.parametrize(
    ("body", "lines", "want"),
    [
        (b'{"a": {"values": [1, 2]}}\n{"a": {"values": [3, 4]}}\n', True, [[1.0, 2.0], [3.0, 4.0]]),
        (b'{"predictions": [{"a": {}}, {"a": {}}]}', False, [[], []]),
        (
            b'[{"a": {"values": [1], "shape": [1]}}, {"a": {"values": [2], "shape": [1]}}]',
            False,
            [[1.0], [2.0]],
        ),
    ],
)
def test_response_tensor_objects_of_lists(body: bytes, lines: bool, want: list[Any]) -> None:
    got = all_paths(body, lines, True)
    assert isinstance(got, smp.RecordBatch) and got.label["a"].tolist() == want


def test_response_sparse_tensor_objects() -> None:
    body = (
        b'{"predictions": [{"a": {"keys": [1], "values": [2.5], "shape": [3]}},'
        b' {"a": {"keys": [0], "values": [4], "shape": [3]}}]}'
    )
    got = all_paths(body, False, True)
    assert isinstance(got, smp.RecordBatch)
    assert got.label["a"].toarray().tolist() == [[0.0, 2.5, 0.0], [4.0, 0.0, 0.0]]


def test_the_column_reader_reads_response_tensor_objects() -> None:
    if J._CREC is None:
        pytest.skip("the C extension is not built")
    body = b'[{"a": {"values": [1]}}, {"a": {"values": [2]}}]'
    got = J._CREC.json_records(body, 0, len(body), False, False)
    assert got is not None and got[0] == 2 and [c[:2] for c in got[1]] == [("a", "n")]
    # the Autopilot reader (texts) declines them
    assert J._CREC.json_records(body, 0, len(body), False, False, True, True) is None


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.just({}),
            st.builds(lambda v: {"values": v}, st.lists(st.integers(-3, 3), max_size=3)),
            st.builds(lambda k: {"keys": [k], "values": [1.5], "shape": [3]}, st.integers(0, 3)),
            st.builds(lambda v: {"values": v, "shape": [len(v)]}, st.lists(st.integers(-3, 3), max_size=2)),
            st.just({"values": ["x"]}),
            st.integers(-2, 2),
        ),
        min_size=1,
        max_size=5,
    ),
    lines=st.booleans(),
)
def test_response_tensor_objects_on_every_path(values: list[Any], lines: bool) -> None:
    recs = [{"a": v} for v in values]
    body = b"".join(json.dumps(r).encode() + b"\n" for r in recs) if lines else json.dumps(recs).encode()
    all_paths(body, lines, True)


def test_memory_of_long_responses_of_tensor_objects() -> None:
    body = b'{"a": {}}\n' * 200_000
    assert decode(body, True, True).n == 200_000
    if J._CREC is not None:
        assert peak(lambda: decode(body, True, True)) < 2 * len(body)  # (29 x on the general path)
