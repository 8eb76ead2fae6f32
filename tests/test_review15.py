"""Review of the JSON pieces (issue #20): bodies parsed a piece of records at a time by the
column reader's twins, the pure `valid_members` and the general path's `LazyRecords`
must give what the whole document gives. Each test is a defect the review found; the
expected outcomes are written out (orjson's reading of the whole document, the grammar's
record errors) and checked against the general path with every fast reader switched off
(`reference`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads.columns import Ragged
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from sm_payloads.formats import jsonlines as JL
from tests.helpers import bound, peak
from tests.test_json_general_fast import all_paths, decode, general_path, outcome, pure, same_outcome
from tests.test_json_pieces import small_pieces


@contextmanager
def reference() -> Iterator[None]:
    """The general path alone: every scanner and column reader switched off, and the
    document parsed whole (no `LazyRecords`)."""
    with pytest.MonkeyPatch.context() as m:
        for module in (JS, JL):
            for name in ("request_group", "request_fast", "response_fast", "scan"):
                m.setattr(module, name, lambda *a, **k: None)
        m.setattr(JS, "records_lazily", lambda *a, **k: None)
        yield


def _outcome(body: bytes, response: bool) -> Any:
    return outcome(lambda: decode(body, False, response))


def _every_path(body: bytes, response: bool) -> Any:
    """The outcome of the whole-document general path, after checking that every path, in
    small pieces and whole, gives it."""
    with reference():
        want = _outcome(body, response)
    for contexts in ((), (pure,), (small_pieces,), (pure, small_pieces), (general_path, small_pieces)):
        with ExitStack() as stack:
            for c in contexts:
                stack.enter_context(c())
            got = _outcome(body, response)
        same_outcome(got, want)
    return want


@contextmanager
def _path(pure_path: bool) -> Iterator[None]:
    """The pure path (the twins) or the path as built."""
    if pure_path:
        with pure():
            yield
    else:
        yield


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def _records(deep: int) -> bytes:
    """Five sound records, one nested `deep` lists deep, one sound record."""
    return b", ".join([b'{"a": [1]}'] * 5 + [b'{"a": %s}' % _deep(deep), b'{"a": [2]}'])


# --------------------------------------------------------------------------------------
# 1. A piece is parsed at its records' depth in the document (orjson's limit of 1024)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("envelope", "response"), [(b"instances", False), (b"predictions", True)])
def test_a_record_too_deep_for_the_whole_envelope_is_too_deep_in_its_piece(
    envelope: bytes, response: bool
) -> None:
    # the record {"a": [[...1022 lists...]]} holds 1023 containers, 1025 in its envelope:
    # orjson (at most 1024) refuses the whole document at the 1; a piece parsed as
    # [records] held it in 1024, which orjson read, and the pure path reported the
    # grammar's error of record 5 instead
    body = b'{"%s": [%s]}' % (envelope, _records(1022))
    at = len(b'{"%s": [' % envelope) + len(b'{"a": [1]}, ') * 5 + len(b'{"a": ') + 1022
    assert body[at - 1 : at + 1] == b"[1"
    expected = ("error", "invalid JSON: depth limit exceeded", at, 1, None)
    assert _every_path(body, response) == expected
    with small_pieces():
        got = J._record_pieces(body, 0, len(body), False, False, not response)
        assert got is not None and not got.whole
        assert None in list(got.pieces)  # the piece of the deep record does not parse
        assert J._valid_members_pure(body, 0, len(body)) is None


@pytest.mark.parametrize("response", [False, True])
def test_a_record_as_deep_as_orjson_reads_in_a_bare_list(response: bool) -> None:
    # in a bare list the same record is in 1024 containers: the whole document parses, and
    # so does its piece; the error is the grammar's, at record 5 (67: its first byte)
    body = b"[%s]" % _records(1022)
    assert _every_path(body, response) == ("error", "$[5].a: nested more than 32 levels deep", 67, None, 5)
    # one list more: orjson refuses the document at the 1, and every piece of it
    body = b"[%s]" % _records(1023)
    at = len(b'[{"a": [1]}, {"a": [1]}, {"a": [1]}, {"a": [1]}, {"a": [1]}, {"a": ') + 1023
    assert body[at : at + 1] == b"1"
    assert _every_path(body, response) == ("error", "invalid JSON: depth limit exceeded", at, 1, None)


def test_a_long_body_with_a_record_too_deep_on_the_pure_path() -> None:
    # over 256 KiB, the size at which the twins parse pieces: the pure path gives the
    # C path's (and the whole document's) syntax error
    body = b'{"instances": [' + b'{"a": [1]}, ' * 30_000 + b'{"a": %s}]}' % _deep(1022)
    assert len(body) > 1 << 18
    at = body.index(b"1]]]")
    with reference():
        want = _outcome(body, False)
    assert want == ("error", "invalid JSON: depth limit exceeded", at, 1, None)
    assert _outcome(body, False) == want
    with pure():
        assert _outcome(body, False) == want


# --------------------------------------------------------------------------------------
# 2. The pure valid_members of a record Python's json cannot nest so deep
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("response", [False, True])
def test_the_pure_validity_pass_of_a_deep_record_is_not_sure(response: bool) -> None:
    # orjson reads the body (1023 deep), Python's json, which counted the members, raised
    # RecursionError out of the pure path's decode
    body = b"[%s]" % _records(1021)
    assert J._members(body) is None
    assert J._valid_members_pure(body, 0, len(body)) is None
    with pure():
        got = _outcome(body, response)
    assert got == ("error", "$[5].a: nested more than 32 levels deep", 67, None, 5)
    assert _every_path(body, response) == got


# --------------------------------------------------------------------------------------
# 3. Lists of strings some records lack: None in those records, by the column reader
# --------------------------------------------------------------------------------------


def _strings_column(col: Any, want: list[Any]) -> None:
    assert isinstance(col, np.ndarray) and col.dtype == object and col.shape == (len(want),)
    assert col.tolist() == want
    assert [type(x) for x in col] == [type(x) for x in want]


def _ragged(col: Any, values: list[float], offsets: list[int], valid: list[bool]) -> None:
    assert isinstance(col, Ragged)
    assert col.values.dtype == np.float64 and col.values.tolist() == values
    assert col.offsets.tolist() == offsets
    assert col.valid is not None and col.valid.tolist() == valid


@pytest.mark.parametrize(
    ("body", "lines", "key"),
    [
        (b'[["a"], ["b", "c"], {"x": 1}]', False, "values"),
        (b'{"instances": [{"a": ["a"]}, {"a": ["b", "c"]}, {"x": 1}]}', False, "a"),
        (b'{"a": ["a"]}\n{"a": ["b", "c"]}\n\n{"x": 1}\n', True, "a"),
        (b'[{"data": {"a": ["a"]}}, {"data": {"a": ["b", "c"]}}, {"data": {"x": 1}}]', False, "a"),
    ],
)
def test_lists_of_strings_some_records_lack(body: bytes, lines: bool, key: str) -> None:
    # the column reader (C and its twin) read the body, and record_column sent a column of
    # lists of strings with records lacking it to the general path: 6 MiB of ["a"]
    # records and one object record took 760 ns a byte and 26 x the body on the C path
    # (55 ns and 18 x now)
    got = all_paths(body, lines)
    assert isinstance(got, smp.RecordBatch) and got.n == 3 and list(got.features) == [key, "x"]
    _strings_column(got.features[key], [["a"], ["b", "c"], None])
    _ragged(got.features["x"], [1.0], [0, 0, 0, 1], [False, False, True])
    with reference():
        same_outcome(decode(body, lines), got)
    # read by the column reader, not by the general path
    for pure_path in (False, True):
        with _path(pure_path):
            fast = J.request_fast(body, 0, len(body), lines, None, None, "application/json")
        assert isinstance(fast, smp.RecordBatch)
        same_outcome(fast, got)


def test_lists_of_strings_a_record_lacks_in_pieces() -> None:
    # lists of strings in the first pieces, a record without them in the last
    body = b"[" + b", ".join([b'["a", "b"]'] * 6 + [b'{"x": 2.5}', b'["c"]']) + b"]"
    with small_pieces():
        got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch) and got.n == 8
    _strings_column(got.features["values"], [["a", "b"]] * 6 + [None, ["c"]])
    _ragged(got.features["x"], [2.5], [0, 0, 0, 0, 0, 0, 0, 1, 1], [False] * 6 + [True, False])


def test_a_long_body_of_string_lists_and_an_object_within_the_bound() -> None:
    body = b"[" + b'["a"], ' * 200_000 + b'{"x": 1}]'
    got = decode(body, False)
    assert got.n == 200_001 and got.features["values"][-1] is None
    assert got.features["values"][0] == ["a"] and got.features["x"].valid.sum() == 1
    for pure_path in (False, True):
        with _path(pure_path):
            assert peak(lambda: decode(body, False)) < bound(body)


# --------------------------------------------------------------------------------------
# 4. A response's tensor objects: the twin reads them as the kernel does
# --------------------------------------------------------------------------------------


def _kernel_and_twin(body: bytes, lines: bool) -> tuple[Any, Any]:
    """The column reader's reading of a response (C, when built) and its twin's, each as
    (n, [(key, kind, float64 values or their parts, width but for kind N, index)])."""

    def norm(got: Any) -> Any:
        if got is None or got[0] is None:
            return None
        cols = []
        for key, kind, payload, width, index in got[1]:
            if kind == "k":
                values, keys, counts = (
                    np.frombuffer(x, d).tolist() for x, d in zip(payload[:3], ("f8", "i8", "i8"), strict=True)
                )
                parts: Any = (values, keys, counts, tuple(payload[3]))
            elif kind == "r":
                parts = tuple(
                    np.frombuffer(x, d).tolist() for x, d in zip(payload, ("f8", "i8"), strict=True)
                )
            else:
                parts = np.frombuffer(payload, "f8").tolist()
            held = None if index is None else np.frombuffer(index, np.int64).tolist()
            cols.append((key, kind, parts, width, held))
        return got[0], cols

    kernel = None
    if J._CREC is not None:
        kernel = norm(J._CREC.json_records(body, 0, len(body), lines, False, False, False, True, True))
    return kernel, norm(J.records_pure(body, 0, len(body), lines, False, False, True))


@pytest.mark.parametrize(
    ("records", "want"),
    [
        # {} is an empty tensor object: lists of no number
        ([b'{"a": {}}', b'{"a": { }}'], (2, [("a", "v", [], 0, None)])),
        # a tensor object of one value without a shape in every record: a scalar
        ([b'{"s": {"values": [1]}}', b'{"s": {"values": [2.5]}}'], (2, [("s", "n", [1.0, 2.5], 0, None)])),
        # ... but a list of one where a record holds a list
        ([b'{"s": {"values": [1]}}', b'{"s": [2]}'], (2, [("s", "v", [1.0, 2.0], 1, None)])),
        (
            [b'{"s": {"values": [1, 2], "shape": [2]}}', b'{"s": {"values": [3, 4]}}'],
            (2, [("s", "v", [1.0, 2.0, 3.0, 4.0], 2, None)]),
        ),
        ([b'{"s": {"values": []}}', b'{"s": 7}'], (2, [("s", "r", ([7.0], [0, -1]), 0, None)])),
        (
            [
                b'{"k": {"keys": [2], "values": [5], "shape": [3]}}',
                b'{"k": {"keys": [], "values": [], "shape": [3]}}',
            ],
            (2, [("k", "k", ([5.0], [2], [1, 0], (3,)), 0, None)]),
        ),
        ([b'{"a": {}}', b'{"b": 1}'], (2, [("a", "v", [], 0, [0]), ("b", "n", [1.0], 0, [1])])),
        # what the kernel declines, the twin declines: strings, a shape of rank 2, unknown keys
        ([b'{"a": {"values": ["x"]}}'], None),
        ([b'{"a": {"values": [1, 2], "shape": [1, 2]}}'], None),
        ([b'{"a": {"values": [1], "bogus": 1}}'], None),
    ],
)
@pytest.mark.parametrize("lines", [False, True])
def test_response_tensor_objects_read_by_the_twin_as_by_the_kernel(
    records: list[bytes], want: Any, lines: bool
) -> None:
    # the twin declined every tensor object of a response, which the kernel reads (6 MiB of
    # {"a": {}} JSON Lines responses took the pure path's general path: 1,200 ns a byte, 28 x
    # the body, against 1.4 ns and 0.0 x on the C path)
    body = b"\n".join(records) if lines else b'{"predictions": [' + b", ".join(records) + b"]}"
    kernel, twin = _kernel_and_twin(body, lines)
    assert twin == want
    if J._CREC is not None:
        assert kernel == want
    with reference():
        want_batch = outcome(lambda: decode(body, lines, True))
    for contexts in ((), (pure,)):
        with pytest.MonkeyPatch.context():
            stack = [c() for c in contexts]
            for c in stack:
                c.__enter__()
            try:
                same_outcome(outcome(lambda: decode(body, lines, True)), want_batch)
            finally:
                for c in reversed(stack):
                    c.__exit__(None, None, None)


def test_the_autopilot_twin_still_declines_tensor_objects() -> None:
    # the kernel's texts mode (the Autopilot reader's) declines a response's tensor objects
    # and a response of only {}; so does its twin (records_pure without empties)
    for body in (
        b'{"predictions": [{"a": {}}]}',
        b'{"predictions": [{"a": {"values": [1]}}]}',
        b'{"predictions": [{}]}',
    ):
        assert J.records_pure(body, 0, len(body), False, False, True, empties=False) is None
        if J._CREC is not None:
            assert J._CREC.json_records(body, 0, len(body), False, False, True, True) is None


def test_a_long_body_of_empty_tensor_object_responses_within_the_bound_on_the_pure_path() -> None:
    body = b'{"a": {}}\n' * 150_000
    with pure():
        got = decode(body, True, True)
        assert got.n == 150_000 and got.label["a"].shape == (150_000, 0)
        assert peak(lambda: decode(body, True, True)) < 8 * len(body)  # (was 28 x)
