"""The column reader's twins (`records_pure`, `records_check_pure`, the pure
`valid_members`) parse a long body a piece of records at a time (`_record_pieces`): orjson
makes an object per JSON value, up to about 30 x the text of small records, so a whole
6 MiB document of ``{"a": 1}`` records peaked at 36 x the body on the pure path. Here the
pieces are made a few bytes long, so that small bodies are split, and every body must
give what the general path gives; the twins' readings in pieces must equal their
readings of the whole body; and on the pure path a long body of small records stays
within the memory bound (32 x the body + 8 MB)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from tests.helpers import bound, peak
from tests.test_json_general_fast import all_paths, decode, general_path, outcome, pure, same_outcome


@contextmanager
def small_pieces() -> Iterator[None]:
    """Bodies over 16 bytes parsed in pieces of about 24 bytes of records (2 lines)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "_TWIN_WHOLE", 16)
        m.setattr(J, "_TWIN_PIECE", 24)
        m.setattr(J, "_TWIN_LINES", 2)
        yield


def _same(a: Any, b: Any) -> None:
    """Two readings of the twins, equal in every value and bit."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def _resolved(checked: J.CheckedRecords | None) -> Any:
    """A check-mode reading with each value's form written out (the forms' numbering is
    the order they are met in, which pieces may change)."""
    if checked is None:
        return None
    cols = []
    for key, kind, forms, index in checked.cols:
        ids = np.frombuffer(forms, dtype=np.int32).tolist()
        cols.append((key, kind, [checked.forms[i] for i in ids], index))
    return checked.n, cols, checked.offsets, checked.prefix


def _doc(records: list[Any], envelope: str | None) -> bytes:
    inner = b",\n ".join(json.dumps(r).encode() for r in records)
    body = b"[" + inner + b"]"
    return body if envelope is None else b'{"%s": %s}' % (envelope.encode(), body)


def _lines(records: list[Any]) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in records) + b"\n"


# --------------------------------------------------------------------------------------
# Exact readings of bodies split in pieces
# --------------------------------------------------------------------------------------


def test_a_column_of_numbers_in_pieces() -> None:
    body = _doc([{"a": 1}, {"a": 2.5}, {"a": -3}, {"a": 4}, {"a": 5}, {"a": 6}], "instances")
    with small_pieces():
        got = J._record_pieces(body, 0, len(body), False, False, True)
        assert got is not None and got.path == "$.instances" and not got.whole
        pieces = list(got.pieces)
        assert len(pieces) >= 3
        assert [r for piece in pieces for r in piece] == [{"a": v} for v in (1, 2.5, -3, 4, 5, 6)]
        n, cols = J.records_pure(body, 0, len(body), False, True)  # type: ignore[misc]
    assert n == 6 and [c[:2] for c in cols] == [("a", "n")]
    assert cols[0][2].tolist() == [1.0, 2.5, -3.0, 4.0, 5.0, 6.0] and cols[0][4] is None


def test_a_key_some_pieces_lack_has_the_records_that_hold_it() -> None:
    body = _doc([{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4, "b": 9}, {"a": 5}, {"a": 6, "b": 8}], None)
    with small_pieces():
        n, cols = J.records_pure(body, 0, len(body), False)  # type: ignore[misc]
    assert n == 6 and [c[:2] for c in cols] == [("a", "n"), ("b", "n")]
    assert cols[1][2].tolist() == [9.0, 8.0] and cols[1][4].tolist() == [3, 5]


def test_lists_of_two_lengths_in_two_pieces_are_ragged() -> None:
    # the first pieces hold lists of 2, a later one lists of 3 and a number: one ragged
    # column, as the whole body gives it (-1 counts a number)
    recs = [{"v": [1, 2]}, {"v": [3, 4]}, {"v": [5, 6]}, {"v": [7, 8]}, {"v": [9, 10, 11]}, {"v": 12}]
    body = _doc(recs, "predictions")
    with small_pieces():
        n, cols = J.records_pure(body, 0, len(body), False)  # type: ignore[misc]
    assert n == 6 and [c[:2] for c in cols] == [("v", "r")]
    values, counts = cols[0][2]
    assert values.tolist() == [float(x) for x in range(1, 13)]
    assert counts.tolist() == [2, 2, 2, 2, 3, -1]


def test_label_tensor_objects_of_one_value_and_lists_across_pieces() -> None:
    # a label's {"values": [x]} is a scalar while every record's is; a piece of them and a
    # piece of lists of two: lists of one and of two (the general path's reading)
    recs = [{"features": [1], "label": {"y": {"values": [k]}}} for k in range(4)]
    recs += [{"features": [1], "label": {"y": {"values": [7, 8]}}}]
    body = _doc(recs, "instances")
    with small_pieces():
        got = J.records_pure(body, 0, len(body), False, True)
    whole = J.records_pure(body, 0, len(body), False, True)
    _same(got, whole)
    assert whole is not None
    ((_key, kind, payload, _w, _i),) = [c for c in whole[1] if c[0] == "label\0y"]
    assert kind == "r" and payload[1].tolist() == [1, 1, 1, 1, 2]
    with small_pieces(), pure():
        batch = JS.decode(body)
    assert batch.label["y"].to_lists() == [[0.0], [1.0], [2.0], [3.0], [7.0, 8.0]]


def test_sparse_records_of_two_shapes_in_two_pieces_decline() -> None:
    sparse = [{"data": {"features": {"keys": [0], "shape": [4], "values": [1]}}} for _ in range(3)]
    other = [{"data": {"features": {"keys": [0], "shape": [5], "values": [1]}}}]
    body = _doc(sparse + other, "instances")
    with small_pieces():
        assert J.records_pure(body, 0, len(body), False, True) is None


@pytest.mark.parametrize(
    ("recs", "envelope", "kind"),
    [
        ([{"a": 1}, {"a": 2}, {"a": 3}, [4, 5], {"a": 6}], "instances", ("a", "n")),
        ([{"a": 1}, {"a": 2}, {"a": 3}, "a b", {"a": 6}], None, ("a", "n")),
    ],
)
def test_bare_records_in_a_later_piece(recs: list[Any], envelope: str | None, kind: tuple[str, str]) -> None:
    body = _doc(recs, envelope)
    with small_pieces():
        got = J.records_pure(body, 0, len(body), False, True)
    assert got is not None and got[0] == 5 and got[1][0][:2] == kind and got[1][0][4].tolist() == [0, 1, 2, 4]
    assert got[1][1][0] == "features" and got[1][1][4].tolist() == [3]
    _same(got, J.records_pure(body, 0, len(body), False, True))


def test_bare_lists_alone_and_projections_decline() -> None:
    with small_pieces():
        body = _doc([[1, 2], [3, 4], [5, 6], [7, 8]], "instances")
        assert J.records_pure(body, 0, len(body), False, True) is None
        body = _doc([{"s": 1}, {"s": 2}, {"s": 3}, 4], "projections")
        assert J.records_pure(body, 0, len(body), False) is None
        body = _doc([{"s": 1}, {"s": 2}, {"s": 3}, 4], "predictions")
        got = J.records_pure(body, 0, len(body), False)
        assert got is not None and [c[:2] for c in got[1]] == [("s", "n"), ("values", "n")]


@pytest.mark.parametrize(
    "body",
    [
        # an envelope key twice, or written with an escape: the scan does not split it
        b'{"instances": [{"a": 1}, {"a": 2}, {"a": 3}], "instances": [{"a": 9}]}',
        b'{"instan\\u0063es": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]}',
        # another member around the records' list
        b'{"instances": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}], "x": 1}',
    ],
)
def test_a_long_document_the_scan_does_not_split_is_declined(body: bytes) -> None:
    with small_pieces():
        assert J._record_pieces(body, 0, len(body), False, False, True) is None
        assert J.records_pure(body, 0, len(body), False, True) is None
    with small_pieces(), pure():
        got = outcome(lambda: decode(body, False))
    with general_path():
        want = outcome(lambda: decode(body, False))
    same_outcome(got, want)


def test_a_piece_that_does_not_parse_declines() -> None:
    body = b'[{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}, {"a": tru}]'
    with small_pieces():
        assert J.records_pure(body, 0, len(body), False, True) is None
        assert J.records_check_pure(body, 0, len(body), False, True) is None
    with small_pieces(), pure():
        got = outcome(lambda: decode(body, False))
    assert got[:3] == ("error", "invalid JSON: invalid literal, expected 'true'", 47)


def test_valid_members_pure() -> None:
    with small_pieces():
        for body, want in [
            (b'{"instances": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]}', 1),
            (b'[{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]', -1),
            # a long document the scan does not split: not sure
            (b'{"instances": [{"a": 1}], "configuration": {"k": 1}}', None),
            (b'{"instances": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": nul}]}', None),
        ]:
            assert J._valid_members_pure(body, 0, len(body)) == want, body
    # short ones are parsed whole; a key written twice counts twice
    for body, want in [
        (b'{"instances": [{"a": 1}], "configuration": {"k": 1}}', 2),
        (b'{"instances": [{"a": 1}], "instances": [{"a": 2}]}', 2),
        (b'{"a": 1, "a": 2, "b": 3}', 3),
    ]:
        assert J._valid_members_pure(body, 0, len(body)) == want, body
    assert J._valid_members_pure(b'{"a": NaN}', 0, 10) is None


def test_the_first_refused_record_of_a_long_body() -> None:
    recs: list[Any] = [{"a": 1}] * 6 + [{"a": None}] + [{"a": 1}] * 3
    body = _doc(recs, "instances")
    at = body.index(b"null") - len(b'{"a": ')
    with small_pieces():
        assert J._first_refused(None, body, 0, len(body), False) == (6, at)
    body = _doc([{"s": 0.5}] * 5 + [{"s": True}], "predictions")
    at = body.index(b"true") - len(b'{"s": ')
    with small_pieces():
        assert J._first_refused(None, body, 0, len(body), False, response=True) == (5, at)


def test_errors_of_a_long_body_in_pieces() -> None:
    body = _doc([{"a": 1}] * 6 + [{"a": None}], "instances")
    with small_pieces(), pure():
        got = outcome(lambda: decode(body, False))
    reason = "$.instances[6].a: expected a number, a string, a list or a tensor object, found null"
    assert got == ("error", reason, body.index(b"null"), None, 6)
    body = _doc([{"s": 0.5}] * 5 + [{"s": None}], "predictions")
    with small_pieces(), pure():
        got = outcome(lambda: decode(body, False, True))
    reason = "$.predictions[5].s: expected a number, a string, a list or a tensor object, found null"
    assert got == ("error", reason, body.index(b"null"), None, 5)


# --------------------------------------------------------------------------------------
# Properties: in pieces as the whole body, on every path
# --------------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.integers(-5, 5),
    st.floats(-4, 4, allow_nan=False, width=32),
    st.sampled_from(["x", "yz"]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.lists(st.sampled_from(["p", "q"]), min_size=1, max_size=2),
    st.none(),
    st.just({"values": [1, 2]}),
    st.just({"keys": [1], "shape": [3], "values": [2.5]}),
)
_RECORDS = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "features", "uid"]), _VALUES, max_size=3),
    st.fixed_dictionaries({"data": st.dictionaries(st.sampled_from(["features", "x"]), _VALUES, max_size=2)}),
    st.fixed_dictionaries({"label": st.dictionaries(st.sampled_from(["y"]), _VALUES, min_size=1)}),
    st.lists(st.integers(0, 3), min_size=1, max_size=3),
    st.integers(0, 3),
    st.just("a sentence"),
)


@settings(max_examples=300, deadline=None)
@given(
    recs=st.lists(_RECORDS, min_size=1, max_size=12),
    envelope=st.sampled_from([None, "instances", "predictions", "scores"]),
    lines=st.booleans(),
    response=st.booleans(),
)
def test_pieces_read_what_the_whole_body_reads(
    recs: list[Any], envelope: str | None, lines: bool, response: bool
) -> None:
    body = _lines(recs) if lines else _doc(recs, envelope)
    request = not response
    with small_pieces():
        split = J.records_pure(body, 0, len(body), lines, request)
        checked = J.records_check_pure(body, 0, len(body), lines, request)
        refused = J._first_refused(None, body, 0, len(body), lines, response)
        members = None if lines else J._valid_members_pure(body, 0, len(body))
    _same(split, J.records_pure(body, 0, len(body), lines, request))
    _same(_resolved(checked), _resolved(J.records_check_pure(body, 0, len(body), lines, request)))
    whole = J._first_refused(None, body, 0, len(body), lines, response)
    assert refused == whole or (refused is not None and whole is None and not lines)
    if not lines:
        assert members == (-1 if envelope is None else 1)
    with small_pieces(), pure():
        got = outcome(lambda: decode(body, lines, response))
    with general_path():
        want = outcome(lambda: decode(body, lines, response))
    same_outcome(got, want)


# --------------------------------------------------------------------------------------
# Memory on the pure path
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "response", "want"),
    [
        # a bad first record among 8-byte object records (it peaked at 36 x)
        (b'{"instances": [{"a": null}, ' + b",".join([b'{"a": 1}'] * 250_000) + b"]}", False, "error"),
        # a bare list record among them (33 x, and 500 ns a byte on the general path)
        (b'{"instances": [' + b",".join([b'{"a": 1}'] * 250_000) + b", [1, 2]]}", False, 250_001),
        # a null score in the last of many response records (26 x)
        (b'{"predictions": [' + b",".join([b'{"s": 0.5}'] * 250_000) + b', {"s": null}]}', True, "error"),
    ],
)
def test_pure_path_memory_of_small_object_records(body: bytes, response: bool, want: Any) -> None:
    def run() -> Any:
        with pure():
            try:
                return decode(body, False, response).n
            except smp.DecodeError:
                return "error"

    assert run() == want
    assert peak(run) < bound(body)
    assert peak(run) < 12 * len(body)  # (pieces: the largest piece's objects, not the body's)


# --------------------------------------------------------------------------------------
# The general path reads a long document a piece at a time (LazyRecords)
# --------------------------------------------------------------------------------------


@contextmanager
def whole_documents() -> Iterator[None]:
    """The general path parsing every document whole (the reference)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(JS, "records_lazily", lambda *a, **k: None)
        yield


def test_lazy_records_by_hand() -> None:
    body = _doc([{"a": k} for k in range(9)], "instances")
    with small_pieces():
        got = J.records_lazily(body, 0, len(body), True)
    assert got is not None
    recs, path = got
    assert path == "$.instances" and len(recs) == 9
    assert recs[4] == {"a": 4} and recs[-1] == {"a": 8} and recs[2:7] == [{"a": k} for k in range(2, 7)]
    assert recs[0:9] == [{"a": k} for k in range(9)]
    with pytest.raises(IndexError):
        recs[9]
    recs[0:3] = [None, None, None]  # (the group letting records go keeps nothing)
    assert recs[1] == {"a": 1}


@pytest.mark.parametrize(
    ("body", "request_"),
    [
        (_doc([{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}], "predictions"), True),  # not a request envelope
        (_doc([1, 2, 3, 4, 5, 6], None), True),  # numbers: one record
        (_doc([{"a": 1}, {"a": 2}, {"a": 3}], "scores"), False),  # scores: items only when all objects
        (b"[{}, {}, {}, {]", True),  # not JSON
    ],
)
def test_documents_the_general_path_parses_whole(body: bytes, request_: bool) -> None:
    with small_pieces():
        assert J.records_lazily(body, 0, len(body), request_) is None


@settings(max_examples=200, deadline=None)
@given(
    recs=st.lists(_RECORDS, min_size=2, max_size=12),
    envelope=st.sampled_from([None, "instances", "predictions"]),
    response=st.booleans(),
)
def test_the_general_path_in_pieces_as_whole(recs: list[Any], envelope: str | None, response: bool) -> None:
    body = _doc(recs, envelope)
    with small_pieces(), general_path():
        got = outcome(lambda: decode(body, False, response))
    with whole_documents(), general_path():
        want = outcome(lambda: decode(body, False, response))
    same_outcome(got, want)


@pytest.mark.parametrize(
    ("unit", "want"),
    [
        # a sound record, but a column the general path refuses: its records a piece at a time
        (b'{"a": {"shape": []}}', "features['a']: sparse tensor without a shape"),
        # a bare list record holding an object: that record alone
        (b"[{}]", "$[0]: expected a list of numbers or of strings, found an object"),
    ],
)
def test_memory_of_long_documents_the_general_path_reads(unit: bytes, want: str) -> None:
    body = b"[" + b",".join([unit] * 200_000) + b"]"

    def run() -> str:
        try:
            decode(body, False)
        except smp.DecodeError as e:
            return e.reason
        return "read"

    assert run().startswith(want)
    got = peak(run)
    assert got < bound(body)
    if J._CREC is not None:  # (orjson's whole document: 35 to 40 x; the pure structure scan: 17 x)
        assert got < 26 * len(body)


def test_bare_lists_of_strings_are_the_column_readers() -> None:
    # no request scanner reads strings: the column reader does (1,200 ns a byte on the
    # general path for 6 MiB of ["a"] records)
    got = all_paths(b'[["a"], ["b", "c"], ["d"]]', False)
    assert isinstance(got, smp.RecordBatch) and got.n == 3
    assert got.features["values"].tolist() == [["a"], ["b", "c"], ["d"]]
    if J._CREC is not None:
        body = b'[["a"], ["b"]]'
        read = J._CREC.json_records(body, 0, len(body), False, True)
        assert read is not None and read[0] == 2 and [c[:2] for c in read[1]] == [("features", "S")]
    twin = J.records_pure(b'[["a"], ["b"]]', 0, 14, False, True)
    assert twin is not None and twin[0] == 2 and [c[:2] for c in twin[1]] == [("features", "S")]


# --------------------------------------------------------------------------------------
# A long document of one record of one member holding a refused list
# --------------------------------------------------------------------------------------


@contextmanager
def whole_records() -> Iterator[None]:
    """The general path parsing a one-record document whole (the reference)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(JS, "one_member_list_error", lambda *a, **k: None)
        m.setattr(JS, "records_lazily", lambda *a, **k: None)
        yield


@pytest.mark.parametrize(
    ("body", "response"),
    [
        (_doc([{}, {}, {}, {}, {}], "predictions"), False),  # a response document as a request
        (_doc([{"a": 0}] * 5, "instances"), True),  # a request document as a response
        (_doc([1, 2, 3, "x", {}, None], "scores"), False),  # a string first, then an object
        (_doc([1, 2.5, True, 3, 4], "x"), False),
        (_doc([1, 2.5, True, 3, 4], "features"), False),
        (_doc(["a", "b", "c", "d", None], "y"), True),
    ],
)
def test_a_one_member_record_s_refused_list_in_pieces(body: bytes, response: bool) -> None:
    with small_pieces():
        got = J.one_member_list_error(body, 0, response)
        assert got is not None
        for path in ((), (pure,), (general_path,)):
            with ExitStack() as stack:
                for c in path:
                    stack.enter_context(c())
                assert outcome(lambda: decode(body, False, response)) == _want(body, response)


def _want(body: bytes, response: bool) -> Any:
    with whole_records(), general_path():
        return outcome(lambda: decode(body, False, response))


@pytest.mark.parametrize(
    ("body", "response"),
    [
        (_doc([{}, {}, {}, {}], "instances"), False),  # the request envelope
        (_doc([{}, {}, {}, {}], "predictions"), True),  # a response envelope
        (_doc([{}, {}, {}, {}], "data"), False),  # a reserved key
        (_doc([[1], [2], [3], [4]], "x"), False),  # nested lists: the general path
        (_doc([1, 2, 3, 4, 5], "x"), False),  # a sound list
        (_doc(["a", "b", "c", "d"], "x"), True),
        (b'{"x": [{}, {}, {}, {}, {}], "y": 1}', False),  # another member
        (b'{"x y": [{}, {}, {}, {}, {}]}', False),  # no plain name
    ],
)
def test_documents_the_one_member_check_leaves(body: bytes, response: bool) -> None:
    with small_pieces():
        assert J.one_member_list_error(body, 0, response) is None
        assert outcome(lambda: decode(body, False, response)) == _want(body, response)


def test_memory_of_a_document_in_the_other_role_s_envelope() -> None:
    body = b'{"predictions": [' + b",".join([b"{}"] * 400_000) + b"]}"
    reason = "$.predictions: expected a list of numbers or of strings, found an object"
    got = outcome(lambda: decode(body, False))
    assert got == ("error", reason, 17, None, 0)
    assert peak(lambda: outcome(lambda: decode(body, False))) < 30 * len(body)  # (58 x parsed whole)
