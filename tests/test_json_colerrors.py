"""Column errors of application/json and application/jsonlines bodies found without the
general path (issue #20): when the column reader declines a body, a check-mode reading
(``_cjsonrec.json_records(check=True)``, or its twin ``records_check_pure``) notes the form
of every value of every record, and when every record is one the grammar reads without an
error, the first column error the general path's column builder would raise is found from
the forms alone (``first_column_error``): the same message, byte offset, line and record
index, on the C path and on the pure path, requests and responses. Expected values are
written out, or come from the general path forced (every column reader switched off)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from sm_payloads.formats import jsonlines as JL
from tests.test_json_general_fast import same_outcome

CREC = J._CREC
PATHS = ("c", "pure") if CREC is not None else ("pure",)

# --------------------------------------------------------------------------------------
# The paths
# --------------------------------------------------------------------------------------


def outcome(fn: Callable[[], smp.RecordBatch]) -> smp.RecordBatch | tuple[Any, ...]:
    try:
        return fn()
    except smp.DecodeError as e:
        return (type(e).__name__, e.reason, e.offset, e.line, e.record_index)


@contextmanager
def general_path() -> Iterator[None]:
    """Every column reader and the request scanner switched off: the reference."""
    with pytest.MonkeyPatch.context() as m:
        for module in (JS, JL):
            m.setattr(module, "request_group", lambda *a, **k: None)
            m.setattr(module, "request_fast", lambda *a, **k: None)
            m.setattr(module, "response_fast", lambda *a, **k: None)
        yield


@contextmanager
def path(name: str) -> Iterator[None]:
    if name == "c":
        yield
        return
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "_CJ", None)
        m.setattr(J, "_CREC", None)
        yield


@contextmanager
def no_general_path(parse: bool = False) -> Iterator[None]:
    """The general path's column builder forbidden, and its parse unless `parse` (JSON),
    its blocks of lines (JSON Lines)."""

    def forbidden(*a: Any, **k: Any) -> Any:
        raise AssertionError("the general path ran")

    with pytest.MonkeyPatch.context() as m:
        if not parse:
            m.setattr(JS, "loads", forbidden)
        m.setattr(JS, "batch_from_groups", forbidden)
        m.setattr(JL, "_groups", forbidden)
        yield


def decode(body: bytes, lines: bool, response: bool, **kw: Any) -> smp.RecordBatch:
    if response:
        return (JL.decode_response if lines else JS.decode_response)(body, **kw)
    return (JL.decode if lines else JS.decode)(body, **kw)


@contextmanager
def no_route() -> Iterator[None]:
    """The decoders as they were before the route: its check-mode reading switched off."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "column_errors", lambda *a, **k: None)
        yield


def all_paths(body: bytes, lines: bool, response: bool = False, **kw: Any) -> Any:
    """The general path's outcome, after checking that the C and the pure paths give the
    same. JSON Lines also in blocks of a few lines, against the decoder without the route
    in the same blocks (the request scanner reads some blocks whole, and the general path
    forced does not: a tensor object without a shape is then a list of its length, which
    may or may not fit a sparse shape; the route leaves such columns to the blocks)."""
    with general_path():
        want = outcome(lambda: decode(body, lines, response, **kw))
    for p in PATHS:
        with path(p):
            got = outcome(lambda: decode(body, lines, response, **kw))
        same_outcome(got, want)
    if lines:
        for size in (7, 64):
            for p in PATHS:
                with path(p), no_route():
                    small = outcome(lambda: decode(body, lines, response, block_size=size, **kw))  # noqa: B023
                with path(p):
                    got = outcome(lambda: decode(body, lines, response, block_size=size, **kw))  # noqa: B023
                same_outcome(got, small)
    return want


def routed(body: bytes, lines: bool, response: bool = False, **kw: Any) -> tuple[Any, ...]:
    """The error on every path with the general path forbidden (the route found it)."""
    out = []
    for p in PATHS:
        with path(p), no_general_path():
            got = outcome(lambda: decode(body, lines, response, **kw))
        assert isinstance(got, tuple), got
        out.append(got)
    assert all(x == out[0] for x in out)
    return out[0]


def instances(*recs: bytes) -> bytes:
    return b'{"instances": [' + b", ".join(recs) + b"]}"


_MIXED = " (a RecordBatch column holds one kind of value)"

# --------------------------------------------------------------------------------------
# The examples, exact
# --------------------------------------------------------------------------------------


def test_two_nested_shapes() -> None:
    body = b'{"instances": [{"features": [[1,2],[3,4]]}, {"features": [[1,2,3]]}]}'
    want = (
        "DecodeError",
        "features['values']: records have different shapes ([1, 3] vs [2, 2])" + _MIXED,
        44,
        None,
        1,
    )
    assert all_paths(body, False) == want
    assert routed(body, False) == want
    with pytest.raises(smp.DecodeError) as e:
        JS.decode(body)
    assert str(e.value) == "application/json: " + want[1] + " at byte 44 (record 1)"


def test_a_strings_column_among_number_lists() -> None:
    body = b'{"instances": [{"features": [1,2]}, {"features": ["a","b"]}]}'
    want = (
        "DecodeError",
        "features['values']: numeric tensor in a column of byte strings" + _MIXED,
        15,
        None,
        0,
    )
    assert all_paths(body, False) == want
    assert routed(body, False) == want


def test_a_record_error_after_a_column_error_wins() -> None:
    body = b'{"instances":[{"a":[1]},{"a":["x"]},{"b":true}]}'
    reason = "$.instances[2].b: expected a number, a string, a list or a tensor object, found true"
    assert all_paths(body, False) == ("DecodeError", reason, 41, None, 2)
    if CREC is not None:
        # the check-mode reading stops in record 2, which is parsed from there, alone
        with no_general_path(parse=True):
            assert outcome(lambda: JS.decode(body)) == ("DecodeError", reason, 41, None, 2)


def test_json_lines_positions() -> None:
    body = b'\xef\xbb\xbf{"a": [1, 2]}\r\n\n  {"a": [[1], [2]]}\n{"a": 3}\n'
    reason = "features['a']: records have different shapes ([2, 1] vs [2])" + _MIXED
    want = ("DecodeError", reason, 21, 3, 1)  # after the mark (3), a CRLF line, a blank line, two blanks
    assert all_paths(body, True) == want
    assert routed(body, True) == want


def test_responses() -> None:
    body = b'{"predictions": [{"score": 1}, {"score": "x"}, {"score": [[1]]}]}'
    want = ("DecodeError", "label['score']: numeric tensor in a column of byte strings" + _MIXED, 17, None, 0)
    assert all_paths(body, False, response=True) == want
    assert routed(body, False, response=True) == want
    lines = b'{"score": 1}\n{"score": "x"}\n'
    want = ("DecodeError", "label['score']: numeric tensor in a column of byte strings" + _MIXED, 0, 1, 0)
    assert all_paths(lines, True, response=True) == want
    assert routed(lines, True, response=True) == want


# --------------------------------------------------------------------------------------
# A corpus of column conflicts
# --------------------------------------------------------------------------------------

_SPARSE3 = b'{"keys": [0, 2], "shape": [3], "values": [1, 2]}'
_SPARSE4 = b'{"keys": [0], "shape": [4], "values": [1]}'
_SPARSE22 = b'{"keys": [3], "shape": [2, 2], "values": [1]}'

#: (records, the reason the general path gives, its record; None: no error, the batch)
CORPUS: list[tuple[list[bytes], str | None, int | None]] = [
    # shapes
    (
        [b'{"a": [[1, 2], [3, 4]]}', b'{"a": [[1, 2, 3]]}'],
        "features['a']: records have different shapes ([1, 3] vs [2, 2])",
        1,
    ),
    (
        [b'{"a": [1, 2]}', b'{"a": [[1, 2]]}'],
        "features['a']: records have different shapes ([1, 2] vs [2])",
        1,
    ),
    ([b'{"a": [[1, 2]]}', b'{"a": 5}'], "features['a']: records have different shapes ([] vs [1, 2])", 1),
    (
        [b'{"a": [[1, 2]]}', b'{"b": 1}', b'{"a": [[1, 2, 3]]}'],
        "features['a']: no tensor in this record, while others have shape [1, 2]",
        1,
    ),
    (
        [b'{"a": [[1, 2]]}', b'{"a": [[3, 4]]}', b'{"b": 1}'],
        "features['a']: no tensor in this record, while others have shape [1, 2]",
        2,
    ),
    (
        [b'{"a": [[]]}', b'{"a": [[], []]}'],
        "features['a']: records have different shapes ([2, 0] vs [1, 0])",
        1,
    ),
    (
        [b'{"a": [[[1]], [[2]]]}', b'{"a": [[[1, 2]]]}'],
        "features['a']: records have different shapes ([1, 1, 2] vs [2, 1, 1])",
        1,
    ),
    (
        [
            b'{"a": {"values": [1, 2, 3, 4], "shape": [2, 2]}}',
            b'{"a": [[1, 2], [3, 4]]}',
            b'{"a": [1, 2, 3, 4]}',
        ],
        "features['a']: records have different shapes ([4] vs [2, 2])",
        2,
    ),
    (
        [b'{"a": [1, 2]}', b'{"a": 3}', b'{"b": 1}', b'{"a": [[1]]}'],
        "features['a']: records have different shapes ([] vs [2])",
        1,
    ),
    (
        [b'{"a": [1, 2]}', b'{"b": 3}', b'{"a": [1]}', b'{"a": [[1]]}'],
        "features['a']: no tensor in this record, while others have shape [2]",
        1,
    ),
    ([b'{"a": [[1, 2]]}', b'{"a": [[1, 2]]}'], None, None),
    ([b'{"a": [1]}', b'{"a": [2, 3]}', b'{"a": 4}'], None, None),
    # strings and numbers
    ([b'{"a": 1}', b'{"a": "x"}'], "features['a']: numeric tensor in a column of byte strings", 0),
    (
        [b'{"a": "x"}', b'{"a": "y"}', b'{"a": 2}'],
        "features['a']: numeric tensor in a column of byte strings",
        2,
    ),
    (
        [b'{"a": ["x"]}', b'{"a": []}', b'{"a": [1]}'],
        "features['a']: numeric tensor in a column of byte strings",
        2,
    ),
    ([b'{"a": ["x"]}', b'{"a": []}', b'{"a": "y"}'], None, None),
    ([b'{"a": "x"}', b'{"a": {"values": []}}', b'{"a": {"values": ["y", "z"]}}'], None, None),
    (
        [b'{"a": "x"}', b'{"a": {"shape": [2]}}'],
        "features['a']: numeric tensor in a column of byte strings",
        1,
    ),
    (
        [b'{"a": "\\u00e9\\n"}', b'{"a": [[1]]}'],
        "features['a']: numeric tensor in a column of byte strings",
        1,
    ),
    # sparse and dense
    (
        [b'{"a": ' + _SPARSE3 + b"}", b'{"a": ' + _SPARSE4 + b"}"],
        "features['a']: sparse records have different shapes ([4] vs [3])",
        1,
    ),
    (
        [b'{"a": [1, 2]}', b'{"a": ' + _SPARSE3 + b"}"],
        "features['a']: dense record that does not fit the sparse shape",
        0,
    ),
    ([b'{"a": [1, 2, 3]}', b'{"a": ' + _SPARSE3 + b"}", b'{"a": []}'], None, None),
    ([b'{"a": {"values": [1, 2, 3, 4]}}', b'{"a": ' + _SPARSE22 + b"}"], None, None),
    (
        [b'{"a": [1, 2, 3, 4]}', b'{"a": ' + _SPARSE22 + b"}"],
        "features['a']: dense record that does not fit the sparse shape",
        0,
    ),
    (
        [b'{"a": ' + _SPARSE3 + b"}", b'{"b": 1}'],
        "features['a']: key missing from a record of a sparse column",
        1,
    ),
    (
        [b'{"a": ' + _SPARSE3 + b', "b": 1}', b'{"a": {"shape": [3]}, "b": 2}', b'{"b": 3}'],
        "features['a']: key missing from a record of a sparse column",
        2,
    ),
    (
        [b'{"a": {"shape": [2]}}', b'{"a": ' + _SPARSE3 + b"}"],
        "features['a']: sparse records have different shapes ([3] vs [2])",
        1,
    ),
    (
        [b'{"a": 1}', b'{"a": ' + _SPARSE3 + b"}"],
        "features['a']: dense record that does not fit the sparse shape",
        0,
    ),
    # several columns: the first in the order keys first appear, features before label
    (
        [b'{"a": [1], "b": [[1]]}', b'{"b": [[1, 2]], "a": "x"}'],
        "features['a']: numeric tensor in a column of byte strings",
        0,
    ),
    (
        [b'{"b": 1, "a": [[1]]}', b'{"a": [[1, 2]], "b": "x"}'],
        "features['b']: numeric tensor in a column of byte strings",
        0,
    ),
    (
        [b'{"label": {"y": 1}, "data": {"x": [[1]]}}', b'{"label": {"y": "t"}, "data": {"x": [1]}}'],
        "features['x']: records have different shapes ([1] vs [1, 1])",
        1,
    ),
    (
        [b'{"label": {"y": 1}, "data": {"x": [1]}}', b'{"label": {"y": [[1], [2]]}, "data": {"x": [1, 2]}}'],
        "label['y']: records have different shapes ([2, 1] vs [])",
        1,
    ),
    (
        [b'{"data": {"features": [[1]]}, "uid": "u"}', b'{"data": {"features": [[1, 2]]}, "uid": "v"}'],
        "features['values']: records have different shapes ([1, 2] vs [1, 1])",
        1,
    ),
    # a record error after a column error, or a syntax error: those come first
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"a": [1, "x"]}'], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"a": [[1], [2, 3]]}'], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"uid": 5}'], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"a": "\\ud800"}'], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"a": {"values": [1], "bogus": 1}}'], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"a": ' + _SPARSE3.replace(b"[3]", b"[2]") + b"}"], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"features": [1], "values": [2]}'], None, None),
    ([b'{"a": [1]}', b'{"a": "x"}', b'{"a": 1e999}'], None, None),
]


def _bodies(recs: list[bytes]) -> Iterator[tuple[bytes, bool]]:
    yield instances(*recs), False
    yield b"[" + b",".join(recs) + b"]", False
    yield b"\n".join(recs) + b"\n", True


@pytest.mark.parametrize(("recs", "reason", "record"), CORPUS)
@pytest.mark.parametrize("dtype", [None, "float32", "int32"])
def test_corpus(recs: list[bytes], reason: str | None, record: int | None, dtype: str | None) -> None:
    for body, lines in _bodies(recs):
        got = all_paths(body, lines, dtype=dtype)
        if reason is not None:
            assert isinstance(got, tuple)
            assert got[1] == reason + _MIXED and got[4] == record
            # the offset of the record the error names (its "{"), and its line
            starts = [i for i in range(len(body)) if body.startswith(recs[record], i)]
            assert got[2] in starts
            assert got[3] == (body.count(b"\n", 0, got[2]) + 1 if lines else None)
            assert routed(body, lines, dtype=dtype) == got


@pytest.mark.parametrize(("recs", "reason", "record"), [c for c in CORPUS if b"data" not in b"".join(c[0])])
def test_corpus_as_responses(recs: list[bytes], reason: str | None, record: int | None) -> None:
    for body, lines in _bodies(recs):
        if not lines:
            body = body.replace(b'{"instances": [', b'{"predictions": [', 1)
        got = all_paths(body, lines, response=True)
        if reason is not None and b"uid" not in body and b'"features"' not in body:
            assert isinstance(got, tuple) and got[1] == reason.replace("features[", "label[") + _MIXED


def test_json_lines_block_boundaries() -> None:
    """Blocks of lines the request scanner reads whole (FastGroup) among others: the route
    gives the error of the body whatever the general path's block size."""
    recs = [b'{"a": [[1, 2], [3, 4]]}'] * 30 + [b'{"a": [[1, 2, 3]]}'] + [b'{"a": [[1, 2], [3, 4]]}'] * 30
    body = b"\n".join(recs) + b"\n"
    want = (
        "DecodeError",
        "features['a']: records have different shapes ([1, 3] vs [2, 2])" + _MIXED,
        720,
        31,
        30,
    )
    assert all_paths(body, True) == want
    assert routed(body, True) == want
    for size in (1, 30, 100, 1000):
        with general_path():
            assert outcome(lambda: JL.decode(body, block_size=size)) == want  # noqa: B023


def test_a_tensor_without_a_shape_in_a_sparse_column_of_json_lines_is_left_to_the_general_path() -> None:
    # the request scanner's blocks read {"values": [...]} as a list of its length: whether
    # it fits a sparse shape depends on the blocks, so the route does not decide for JSON
    # Lines; a JSON document has no blocks
    recs = [b'{"a": {"values": [1, 2, 3]}}', b'{"a": ' + _SPARSE22 + b"}"]
    lines = b"\n".join(recs) + b"\n"
    body = instances(*recs)
    reason = "features['a']: dense record that does not fit the sparse shape" + _MIXED
    for p in PATHS:
        with path(p):
            got = J._checked(lines, 0, len(lines), True, True, False)
            assert isinstance(got, J.CheckedRecords)
            assert J.first_column_error(got, True, True) is None
            got = J._checked(body, 0, len(body), False, True, False)
            assert isinstance(got, J.CheckedRecords)
            assert J.first_column_error(got, True, False) == (reason, 0)
    assert all_paths(lines, True) == ("DecodeError", reason, 0, 1, 0)
    assert all_paths(body, False) == ("DecodeError", reason, 15, None, 0)


def test_the_route_is_unsure_of_one_column_under_two_keys() -> None:
    body = b'[{"features": [1]}, {"data": {"features": "x"}}]'
    for p in PATHS:
        with path(p):
            got = J._checked(body, 0, len(body), False, True, False)
            assert isinstance(got, J.CheckedRecords)
            assert J.first_column_error(got, True, False) is None
    assert (
        all_paths(body, False)[1] == "features['values']: numeric tensor in a column of byte strings" + _MIXED
    )


def test_a_column_error_past_the_cells_budget_is_left_to_the_general_path() -> None:
    recs = [b'{"a": [[1]], "k%d": 1}' % i for i in range(600)] + [b'{"a": [[1, 2]]}']
    body = instances(*recs)
    got = all_paths(body, False)
    assert isinstance(got, tuple) and "column cells" in got[1]


# --------------------------------------------------------------------------------------
# The check-mode readings, C and twin
# --------------------------------------------------------------------------------------


def _forms(got: J.CheckedRecords) -> dict[str | None, list[Any]]:
    import numpy as np

    return {k: [got.forms[f] for f in np.frombuffer(f_, np.int32).tolist()] for k, _kind, f_, _i in got.cols}


@pytest.mark.skipif(CREC is None, reason="the C extension is not built")
@pytest.mark.parametrize("lines", [False, True])
def test_check_mode_forms_equal_the_twin(lines: bool) -> None:
    recs = [
        b'{"a": 1, "b": "x", "c": [], "d": ["p", "q"], "e": [[[]]], "uid": "u"}',
        b'{"a": [1, 2], "b": [[1, 2], [3, 4]], "c": {"values": [1]}, "d": {"shape": [3]}, "e": {}}',
        b'{"a": {"keys": [1], "shape": [2, 3], "values": [4]}, "b": {"values": [5], "shape": []}}',
        b'{"data": {"x": {"values": ["s"], "shape": [1]}},'
        b' "label": {"y": {"values": [1, 2], "shape": [2, 1]}}}',
    ]
    body = b"\n".join(recs) + b"\n" if lines else instances(*recs)
    got = J._checked(body, 0, len(body), lines, True, False)
    twin = J.records_check_pure(body, 0, len(body), lines, True)
    assert isinstance(got, J.CheckedRecords) and twin is not None
    assert got.n == twin.n == 4
    want = {
        "a": [((), 1, 0), ((2,), 2, 0), ((2, 3), 1, 6)],
        "b": [((), 1, 1), ((2, 2), 4, 0), ((), 1, 0)],
        "c": [((0,), 0, 0), (None, 1, 0)],
        "d": [((2,), 2, 1), ((3,), 0, 6)],
        "e": [((1, 1, 0), 0, 0), (None, 0, 0)],
        "uid": [],
        "data\0x": [((1,), 1, 1)],
        "label\0y": [((2, 1), 2, 0)],
    }
    assert _forms(got) == _forms(twin) == want
    assert [(k, i if i is None else bytes(i)) for k, _kind, _f, i in got.cols] == [
        (k, i if i is None else bytes(i)) for k, _kind, _f, i in twin.cols
    ]
    starts = [body.index(r) for r in recs]
    assert got.offsets.tolist() == starts
    if lines:
        assert twin.offsets.tolist() == starts


@pytest.mark.skipif(CREC is None, reason="the C extension is not built")
@pytest.mark.parametrize(
    ("value", "stops"),
    [
        (b"true", True),
        (b"null", True),
        (b'[1, "x"]', True),
        (b'["x", 1]', True),
        (b"[[1], 2]", True),
        (b"[[1, 2], [3]]", True),
        (b"[[[[[[[[[1]]]]]]]]]", True),  # nine levels: left to the general path
        (b"[[[[[[[[1]]]]]]]]", False),
        (b'[["x"]]', True),
        (b'{"values": [1], "bogus": 1}', True),
        (b'{"keys": [1], "values": [1]}', True),
        (b'{"keys": [3], "shape": [3], "values": [1]}', True),
        (b'{"keys": [0], "shape": [3], "values": ["x"]}', True),
        (b'{"values": [1, 2], "shape": [3]}', True),
        (b'{"values": [1], "values": [2]}', True),
        (b'{"shape": []}', True),
        (b'"\\ud800"', True),
        (b'"\xff"', True),
        (b"1e999", True),
        (b'{"values": ["x", 1]}', True),
    ],
)
def test_check_mode_stops_where_the_grammar_refuses(value: bytes, stops: bool) -> None:
    body = instances(b'{"a": [1]}', b'{"a": "x"}', b'{"a": ' + value + b"}", b'{"a": 2}')
    got = J._checked(body, 0, len(body), False, True, False)
    if stops:
        assert got == (2, body.index(b'{"a": ' + value))
    else:
        assert isinstance(got, J.CheckedRecords)
    all_paths(body, False)


# --------------------------------------------------------------------------------------
# Against the general path: hypothesis
# --------------------------------------------------------------------------------------

_num = st.one_of(st.integers(-5, 5), st.sampled_from([1.5, -0.25, 1e300]))
_txt = st.sampled_from(["x", "", "\u00e9", "a\nb"])


@st.composite
def _value(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return draw(_num)
    if kind == 1:
        return draw(_txt)
    if kind == 2:
        return draw(st.lists(_num, max_size=3))
    if kind == 3:
        return draw(st.lists(_txt, min_size=1, max_size=2))
    if kind in (4, 5):  # nested lists, mostly rectangular
        dims = draw(st.lists(st.integers(0, 2), min_size=2, max_size=3))

        def build(d: list[int]) -> Any:
            if not d:
                return draw(_num)
            return [build(d[1:]) for _ in range(d[0])]

        v = build(dims)
        if v and draw(st.integers(0, 5)) == 0:
            v.append([1, 2, 3])  # ragged
        return v
    if kind in (6, 7):  # sparse records
        width = draw(st.integers(1, 3))
        shape = draw(st.sampled_from([[width], [1, width], [width, 1]]))
        keys = draw(st.lists(st.integers(0, width - 1), max_size=width))
        if not keys and draw(st.booleans()):
            return {"shape": shape}
        return {"keys": keys, "shape": shape, "values": [1.0] * len(keys)}
    if kind == 8:
        v = {"values": draw(st.one_of(st.lists(_num, max_size=3), st.lists(_txt, min_size=1, max_size=2)))}
        if draw(st.booleans()):
            v["shape"] = [len(v["values"])]
        return v
    if kind == 9:
        return {"values": [1, 2, 3, 4], "shape": [2, 2]}
    if kind == 10:
        return draw(st.sampled_from([True, None, [1, "x"], {"values": [1], "x": 2}]))  # the record's error
    return draw(st.sampled_from([[[1, 2], [3, 4]], [[1, 2, 3]], [1, 2], "s"]))


@st.composite
def _records(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(
        st.lists(
            st.sampled_from(["a", "b", "features", "data", "label", "uid"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    pool = draw(st.lists(_value(), min_size=1, max_size=4))
    bad_ok = draw(st.integers(0, 3)) == 0
    out = []
    for _ in range(draw(st.integers(1, 6))):
        rec: dict[str, Any] = {}
        for k in keys:
            if draw(st.integers(0, 5)) == 0:
                continue  # a key some records lack
            v = draw(st.sampled_from(pool))
            if not bad_ok and (v is True or v is None or v == [1, "x"] or v == {"values": [1], "x": 2}):
                v = 1
            if k == "uid":
                v = draw(_txt) if draw(st.integers(0, 8)) else 3
            elif k in ("data", "label"):
                v = {draw(st.sampled_from(["x", "features", "y"])): v}
            rec[k] = v
        out.append(rec)
    return out


def _body(recs: list[Any], shape: str, spaced: bool) -> bytes:
    if spaced:
        texts = [json.dumps(r).encode() for r in recs]
    else:
        texts = [json.dumps(r, separators=(",", ":")).encode() for r in recs]
    if shape == "lines":
        return b"\n".join(texts) + b"\n"
    if shape == "list":
        return b"[" + b", ".join(texts) + b"]"
    return instances(*texts)


@settings(max_examples=300, deadline=None)
@given(
    _records(),
    st.sampled_from(["instances", "list", "lines"]),
    st.booleans(),
    st.sampled_from([None, "float32"]),
)
@example([{"a": [[1, 2]]}, {"a": [[1]]}, {"b": True}], "instances", False, None)
@example([{"a": {"shape": [2]}}, {"a": {"values": [1, 2]}}], "lines", True, None)
def test_records_equal_the_general_path(recs: list[Any], shape: str, spaced: bool, dtype: str | None) -> None:
    body = _body(recs, shape, spaced)
    all_paths(body, shape == "lines", dtype=dtype)


@settings(max_examples=150, deadline=None)
@given(_records(), st.booleans())
def test_response_records_equal_the_general_path(recs: list[Any], lines: bool) -> None:
    body = _body(recs, "lines", False) if lines else b'{"predictions": ' + _body(recs, "list", False) + b"}"
    all_paths(body, lines, response=True)


@settings(max_examples=150, deadline=None)
@given(_records(), st.sampled_from(["instances", "lines"]), st.data())
def test_mutated_bodies_equal_the_general_path(recs: list[Any], shape: str, data: st.DataObject) -> None:
    body = bytearray(_body(recs, shape, False))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i : i + 1] = data.draw(st.sampled_from([b"", b"[", b"]", b",", b'"', b"1", b"{", b"}", b"x"]))
    with contextlib.suppress(RecursionError):
        all_paths(bytes(body), shape == "lines")


@pytest.mark.skipif(CREC is None, reason="the C extension is not built")
@pytest.mark.parametrize(
    ("last", "readable"),
    [
        (b'{"a": "x"}', 1),  # a conflict: a value the grammar reads
        (b'{"a": [[1, 2]]}', 1),
        (b'{"a": true}', 0),  # the record's error: no check-mode reading
        (b'{"a": [1, "x"]}', 0),
        (b'{"a": 1, "a": 2}', 1),  # a key twice: the last value read was sound
        (b'{"a\\n": 1}', 0),  # an escape in a key: no value begun in the record
    ],
)
def test_the_report_tells_a_conflict_from_a_record_error(last: bytes, readable: int) -> None:
    body = instances(b'{"a": 1}', last)
    got = CREC.json_records(body, 0, len(body), False, True, False, False, False, True)
    # declined in record 1, which begins there
    assert (got[0], got[1], got[3], got[4]) == (None, 1, body.index(last), readable)


def test_a_byte_order_mark_before_the_document() -> None:
    body = b'\xef\xbb\xbf[{"features": [[1, 2]]}, {"features": [[1]]}]'
    want = (
        "DecodeError",
        "features['values']: records have different shapes ([1, 1] vs [1, 2])" + _MIXED,
        28,  # the mark (3), "[" and record 0 (22), ", "
        None,
        1,
    )
    assert all_paths(body, False) == want
    assert routed(body, False) == want


@pytest.mark.parametrize("lines", [False, True])
def test_responses_with_nan(lines: bool) -> None:
    recs = [b'{"a": NaN, "b": [[1]]}', b'{"a": "x", "b": [[Infinity, 2]]}']
    body = b"\n".join(recs) + b"\n" if lines else b'{"predictions": [' + b", ".join(recs) + b"]}"
    at = body.index(recs[0])
    want = (
        "DecodeError",
        "label['a']: numeric tensor in a column of byte strings" + _MIXED,
        at,
        1 if lines else None,
        0,
    )
    assert all_paths(body, lines, response=True, allow_nan=True) == want
    assert routed(body, lines, response=True, allow_nan=True) == want
    got = all_paths(body, lines, response=True)  # NaN is not JSON
    assert isinstance(got, tuple) and got[1].startswith("invalid JSON")


# --------------------------------------------------------------------------------------
# The pure path's report of the record its column reader stopped in
# --------------------------------------------------------------------------------------

_SOUND = b'{"features": [1.5, 2]}'
_REFUSED = [
    b'{"features": [1, true]}',
    b'{"features": null}',
    b'{"data": 3}',
    b'{"features": [1], "values": [2]}',
    b'{"uid": 5, "features": [1]}',
    b'{"label": {"x": true}}',
]


def _error_of(run: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        run()
    except smp.DecodeError as e:
        return (e.reason, e.offset, e.line, e.record_index)
    raise AssertionError("no error")


@pytest.mark.parametrize("bad", _REFUSED)
@pytest.mark.parametrize("layout", ["instances", "list", "lines"])
def test_pure_path_reads_the_refused_record_first_without_the_general_path(bad: bytes, layout: str) -> None:
    """With the kernels off, a request whose sound records come before a refused one gets
    that record's error from the record alone (the general path's column builder is not
    run), exactly as the general path reports it."""
    records = [_SOUND, b'{"features": ["a", "b"]}' if layout == "list" else _SOUND] * 40 + [bad, _SOUND]
    lines = layout == "lines"
    if lines:
        body = b"\n".join(records) + b"\n"
    elif layout == "list":
        body = b"[" + b", ".join(records) + b"]"
    else:
        body = b'{"instances": [' + b", ".join(records) + b"]}"
    with path("pure"):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(J, "_first_refused", lambda *a: None)  # the route off: the reference
            want = _error_of(lambda: decode(body, lines, False))
        with no_general_path(parse=True):
            got = _error_of(lambda: decode(body, lines, False))
    assert got == want
    assert got[3] == 80


def test_plainly_sound_says_nothing_it_cannot_tell() -> None:
    for rec in ({"features": [1, 2.5]}, {"a": "x", "b": ["p", "q"], "c": 3}, {"values": [1]}):
        assert J._plainly_sound(rec), rec
    for rec in (
        {"features": [1], "values": [2]},
        {"features": []},
        {"a": [1, "x"]},
        {"a": [[1]]},
        {"data": {"features": [1]}},
        {"uid": "u"},
        {"a": None},
        {"a": True},
        [1, 2],
        3,
    ):
        assert not J._plainly_sound(rec), rec
