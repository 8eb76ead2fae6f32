"""Review 14 (issue #20): defects found in the JSON column limit, the first-record error
routes and the RecordIO-protobuf column limit, each as a minimal body with the outcome the
general path (or the plain verb without limits) gives, written out.

- A document whose envelope key comes twice (``{"instances": [...], "instances": [...]}``;
  the parser keeps the last array) was read by the column reader from its first array:
  the C path reported an error of the last array at an offset (and even a record index)
  of the first, and refused under a column limit a body whose batch is within it.
- An object document that is no envelope but names ``"instances"`` after other keys was
  counted as a record of those keys against the column limit.
- The column limit counted the column reader's keys, not the batch's columns: a request's
  ``features``, ``values`` and its ``data`` object's ``features`` / ``values`` (one column,
  ``values``), a ``data`` key and the top-level key of its name (one feature), and the
  key whose value stopped the reader (that record's error comes first on the general
  path) made the C path refuse bodies within the limit, where the pure path reported
  their error.
- `loads`' hint about NaN and Infinity looked past the end of the value it parsed (a JSON
  Lines line's error named a NaN on a later line; blocks of other sizes did not).
- RecordIO-protobuf: keys that a later entry without a value removes were counted as
  columns past the readers' 4,096 keys (not fixed here: see the xfail).
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads.errors import PayloadTooLargeError
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from sm_payloads.formats import jsonlines as JL
from sm_payloads.limits import Limits
from sm_payloads.recordio import write_records
from tests.helpers import ld
from tests.test_json_general_fast import all_paths, outcome, pure

JSON, JSONL, RIO = "application/json", "application/jsonlines", "application/x-recordio-protobuf"
_NOT_A_VALUE = "expected a number, a string, a list or a tensor object, found"
_NAN_HINT = "(NaN and Infinity are not JSON; pass allow_nan=True to accept them)"
_UNEXPECTED = f"invalid JSON: unexpected character, expected a JSON value {_NAN_HINT}"


@pytest.fixture(params=["c", "pure"])
def path(request: pytest.FixtureRequest) -> Any:
    if request.param == "c" and J._CREC is None:
        pytest.skip("the C extension is not built")
    with pure() if request.param == "pure" else contextlib.nullcontext():
        yield request.param


def _keys(b: smp.RecordBatch) -> tuple[int, list[str], list[str]]:
    return b.n, list(b.features), list(b.label)


# --------------------------------------------------------------------------------------
# An envelope key twice: the last array is the body's records
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "want"),
    [
        # the same error in both arrays: the last one's offset
        (
            b'{"instances": [{"label":true}], "instances": [{"label":true}]}',
            ("error", "$.instances[0].label: expected an object, found true", 55, None, 0),
        ),
        # the first array's record 1 stopped the reader; the last array's record 0 is bad
        (
            b'{"instances": [{"a":1},{"a":false}], "instances": [{"a":true},{"a":null}]}',
            ("error", f"$.instances[0].a: {_NOT_A_VALUE} true", 56, None, 0),
        ),
        # another key's error in the last array
        (
            b'{"instances": [{"a":false}], "instances": [{"b":true}]}',
            ("error", f"$.instances[0].b: {_NOT_A_VALUE} true", 48, None, 0),
        ),
    ],
)
def test_an_envelope_twice_reports_the_last_arrays_error(body: bytes, want: tuple[Any, ...]) -> None:
    assert all_paths(body, False) == want


def test_an_envelope_twice_reads_the_last_array() -> None:
    got = all_paths(b'{"instances": [{"a":1},{"a":false}], "instances": [{"a":1}]}', False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["a"].tolist() == [1.0]


@pytest.mark.parametrize(
    ("body", "response", "limit", "want"),
    [
        (b'{"instances": [{"a": 1}], "instances": []}', False, 0, (0, [], [])),
        (b'{"instances": [{"a": 1, "b": 2}], "instances": [{"c": 1}]}', False, 1, (1, ["c"], [])),
        (b'{"predictions": [{"a": 1}], "predictions": []}', True, 0, (0, [], [])),
        (b'{"predictions": [{"a": 1, "b": 2}], "predictions": [{"c": 1}]}', True, 1, (1, [], ["c"])),
        # no envelope, yet "instances" among its keys: no record of those keys
        (b'{"configuration":"text","instances":[]}', False, 0, (0, [], [])),
    ],
)
def test_a_body_within_the_column_limit_is_not_refused(
    path: str, body: bytes, response: bool, limit: int, want: tuple[int, list[str], list[str]]
) -> None:
    decode = smp.decode_response if response else smp.decode_request
    assert _keys(decode(body, JSON)) == want
    assert _keys(decode(body, JSON, limits=Limits(max_columns=limit))) == want


def test_the_refusal_stays_for_one_envelope(path: str) -> None:
    body = b'{"instances": [{"a": 1, "b": 2}], "x": "instances"}'  # the general path's error
    with pytest.raises(smp.DecodeError):
        smp.decode_request(body, JSON)
    body = b'{"instances": [' + b",".join(b'{"k%d": 1}' % i for i in range(5000)) + b"]}"
    with pytest.raises(PayloadTooLargeError) as info:
        smp.decode_request(body, JSON, limits=Limits(max_columns=4096))
    assert str(info.value) == f"{JSON} batch of more than 4096 columns exceeds the limit of 4096 columns"


@pytest.mark.parametrize(
    ("body", "limit", "want"),
    [
        # features, values and the data object's features or values: the one column values
        (b'[{"features": [1]}, {"values": [2]}, {"features": null}]', 1, 50),
        (b'[{"features": [1]}, {"data": {"features": [2]}}, {"features": null}]', 1, 62),
        (b'[{"features": [1]}, {"data": {"values": [2]}}, {"features": null}]', 1, 60),
        (b'[[1], {"values": [2]}, {"features": null}]', 1, 36),
        # a key of the data object is the feature of its name
        (b'[{"a": [1]}, {"data": {"a": [2]}}, {"a": null}]', 1, 41),
        # the key whose value stopped the reader: that record's error comes first
        (b'[{"features": [1]}, {"zz": true}]', 1, 27),
        (b'[{"configuration": "s", "b": [1], "a": [1]}, {"a": [1]}, {"zz": null}]', 2, 64),
    ],
)
def test_keys_of_one_column_count_once(path: str, body: bytes, limit: int, want: int) -> None:
    with pytest.raises(smp.DecodeError) as plain:
        smp.decode_request(body, JSON)
    assert plain.value.offset == want
    with pytest.raises(smp.DecodeError) as within:
        smp.decode_request(body, JSON, limits=Limits(max_columns=limit))
    assert (str(within.value), within.value.offset) == (str(plain.value), want)


def test_keys_of_one_column_in_json_lines(path: str) -> None:
    body = b'{"features": [1]}\n{"values": [2]}\n{"features": null}\n'
    want = f"{JSONL}: $.features: {_NOT_A_VALUE} null at line 3 (byte 47, record 2)"
    for limits in (None, Limits(max_columns=1)):
        with pytest.raises(smp.DecodeError) as info:
            smp.decode_request(body, JSONL, limits=limits)
        assert str(info.value) == want


@pytest.mark.skipif(J._CREC is None, reason="the C extension is not built")
def test_more_columns_are_still_refused() -> None:
    # (the column reader's refusal, before the general path reads record 2's error)
    body = b'[{"features": [1]}, {"values": [2], "b": [3]}, {"features": null}]'
    with pytest.raises(PayloadTooLargeError) as info:
        smp.decode_request(body, JSON, limits=Limits(max_columns=1))
    assert info.value.limit == 1 and info.value.unit == "columns"


# --------------------------------------------------------------------------------------
# The NaN hint names the value's own bytes
# --------------------------------------------------------------------------------------

_LINE_ONE = b'{ "uid" : 0.5,"uid" \r\n :\nNaN \r\n }\n\n{"uid": 1}\n'


@pytest.mark.parametrize("block_size", [None, 7, 64])
def test_a_lines_error_names_no_nan_of_a_later_line(block_size: int | None) -> None:
    kw = {} if block_size is None else {"block_size": block_size}
    want = ("error", "invalid JSON: unexpected end of data", 21, 1, 0)  # the end of line 1
    assert outcome(lambda: JL.decode(_LINE_ONE, **kw)) == want
    with pure():
        assert outcome(lambda: JL.decode(_LINE_ONE, **kw)) == want


def test_the_nan_hint_in_the_value_itself() -> None:
    want = ("error", _UNEXPECTED, 6, 1, 0)
    assert outcome(lambda: JL.decode(b'{"a": NaN}\n{"a": 1}\n')) == want
    with pure():
        assert outcome(lambda: JL.decode(b'{"a": NaN}\n{"a": 1}\n')) == want
    assert outcome(lambda: JS.decode(b'{"instances": [{"a": Infinity}]}'))[:3] == ("error", _UNEXPECTED, 21)


# --------------------------------------------------------------------------------------
# RecordIO-protobuf: keys that an entry without a value removes
# --------------------------------------------------------------------------------------


def _entry(fn: int, key: bytes, *parts: bytes) -> bytes:
    return ld(fn, ld(1, key) + b"".join(ld(2, p) for p in parts))


def _removed_keys(count: int) -> bytes:
    """One record: `count` keys with a value, each then removed by an entry of its key
    without a value, and the key ``a``: one column."""
    f32 = ld(2, ld(1, struct.pack("<f", 1.0)))
    ents = [_entry(1, b"k%d" % i, f32) for i in range(count)]
    ents += [ld(1, ld(1, b"k%d" % i)) for i in range(count)]
    ents.append(_entry(1, b"a", f32))
    return write_records([b"".join(ents)])


def test_recordio_removed_keys_within_the_readers(path: str) -> None:
    body = _removed_keys(200)
    batch = smp.decode_request(body, RIO, limits=Limits(max_columns=1))
    assert _keys(batch) == (1, ["a"], [])
    assert batch.features["a"].tolist() == [[1.0]]


def test_recordio_removed_keys_past_the_readers(path: str) -> None:
    # (counted by _crecordio.live_keys: a key whose last entry in a record holds a value)
    body = _removed_keys(5000)
    assert _keys(smp.decode_request(body, RIO)) == (1, ["a"], [])
    batch = smp.decode_request(body, RIO, limits=Limits(max_columns=1))
    assert _keys(batch) == (1, ["a"], [])
    assert np.asarray(batch.features["a"]).tolist() == [[1.0]]
