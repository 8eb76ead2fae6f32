"""`Limits.max_columns`: the columns of one decoded batch (``features`` and ``label`` keys
together), 4096 in `smp.limits.SERVING`. A JSON body of more distinct keys is refused as
soon as the column reader has read one too many (`column_limit`, handed to the readers by
`decode_within`), on the C path before any column is built; a body within the limit gets
exactly the batch it gets without it. Expected counts come from the bodies as written."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import serving
from sm_payloads.errors import PayloadTooLargeError
from sm_payloads.formats import _json_layout as J
from sm_payloads.limits import SERVING, Limits, column_limit, columns_refused
from tests.helpers import peak
from tests.test_json_general_fast import all_paths, pure, same_outcome

JSON, JSONL = "application/json", "application/jsonlines"


def _keys(n: int, prefix: str = "k") -> bytes:
    return b",".join(b'"%s%d": 1.5' % (prefix.encode(), i) for i in range(n))


def _over(ct: str, limit: int) -> str:
    return f"{ct} batch of more than {limit} columns exceeds the limit of {limit} columns"


def _refusal(f: Callable[[], Any]) -> tuple[str, int, int, str]:
    with pytest.raises(PayloadTooLargeError) as info:
        f()
    e = info.value
    return str(e), e.size, e.limit, e.unit


@pytest.fixture(params=["c", "pure"])
def path(request: pytest.FixtureRequest) -> Any:
    if request.param == "c" and J._CREC is None:
        pytest.skip("the C extension is not built")
    with pure() if request.param == "pure" else contextlib.nullcontext():
        yield request.param


def test_the_limit_is_validated() -> None:
    with pytest.raises(ValueError, match=r"Limits.max_columns must be a non-negative int or None, got -1"):
        Limits(max_columns=-1)
    with pytest.raises(ValueError, match=r"Limits.max_columns must be a non-negative int or None, got True"):
        Limits(max_columns=True)
    assert SERVING.max_columns == 4096
    assert SERVING.counts_only().max_columns == 4096


def test_a_batch_over_the_limit_names_its_count(path: str) -> None:
    body = b'[{"a": 1, "b": 2, "label": {"x": 3}}]'
    got = _refusal(lambda: smp.decode_request(body, JSON, limits=Limits(max_columns=2)))
    # "more than", whichever reader counted (the column reader reads the 3 columns here)
    assert got == (_over(JSON, 2), 3, 2, "columns")
    batch = smp.decode_request(body, JSON, limits=Limits(max_columns=3))
    assert list(batch.features) == ["a", "b"] and list(batch.label) == ["x"]


def test_string_fields_are_not_columns(path: str) -> None:
    body = b'{"instances": [{"a": 1, "uid": "u", "metadata": "m", "configuration": "c"}]}'
    batch = smp.decode_request(body, JSON, limits=Limits(max_columns=1))
    assert list(batch.features) == ["a"] and batch.uid is not None and list(batch.uid) == ["u"]


@pytest.mark.parametrize("limit", [0, 100, 4096])
@pytest.mark.parametrize(
    ("ct", "body", "response"),
    [
        (JSON, b"{" + _keys(5000) + b"}", False),  # a document that is one record
        (JSON, b'{"instances": [{' + _keys(5000) + b"}]}", False),
        (JSON, b'[{"a": 1}, {' + _keys(5000) + b"}]", False),
        (JSON, b'{"instances": [{"data": {' + _keys(3000) + b'}, "label": {' + _keys(3000) + b"}}]}", False),
        (JSONL, b'{"a": 1}\n{' + _keys(5000) + b"}\n", False),
        (JSON, b'{"predictions": [{' + _keys(5000) + b"}]}", True),
        (JSONL, b"{" + _keys(5000) + b"}\n", True),
    ],
)
def test_many_keys_are_refused_with_the_limit(
    path: str, limit: int, ct: str, body: bytes, response: bool
) -> None:
    verb = smp.decode_response if response else smp.decode_request
    got = _refusal(lambda: verb(body, ct, limits=Limits(max_columns=limit)))
    # the C path stops at the column reader's first key past its 4096 columns; the pure
    # path's general reader counts the columns after each chunk of records: both say "more
    # than" the limit
    assert got == (_over(ct, limit), limit + 1, limit, "columns")
    assert column_limit() is None  # the limit is the call's only


def test_the_column_reader_reads_every_body_within_serving() -> None:
    if J._CREC is None:
        pytest.skip("the C extension is not built")
    # 4096 columns and the three string fields: read by the column reader, not declined
    rec = b"{" + _keys(4096) + b', "uid": "u", "metadata": "m", "configuration": "c"}'
    body = b'{"instances": [' + b", ".join([rec] * 3) + b"]}"
    got = J._CREC.json_records(body, 0, len(body), False, True)
    assert got is not None and got[0] == 3 and len(got[1]) == 4099
    batch = smp.decode_request(body, JSON, limits=SERVING)
    assert len(batch.features) == 4096 and batch.features["k4095"].tolist() == [1.5, 1.5, 1.5]
    assert batch.uid is not None and list(batch.uid) == ["u", "u", "u"]
    # one more column: the reader stops there (the report says so), and the body is refused
    body = b'{"instances": [{' + _keys(4097) + b"}]}"
    report = J._CREC.json_records(body, 0, len(body), False, True, False, False, False, True)
    assert report[0] is None and len(report[2]) == 4096 and report[5] == 1
    assert _refusal(lambda: smp.decode_request(body, JSON, limits=SERVING))[0] == _over(JSON, 4096)


def test_a_refusal_of_a_million_keys_costs_little_memory() -> None:
    body = b"{" + _keys(500_000) + b"}"  # 6.4 MB
    got: list[Any] = []

    def refuse() -> None:
        try:
            smp.decode_request(body, JSON, limits=SERVING)
        except PayloadTooLargeError as e:
            got.append(str(e))

    used = peak(refuse)
    assert got == [_over(JSON, 4096)]
    if J._CREC is not None:
        # the depth check's pass over the bytes (about 2 x) and the column reader's first
        # 4097 keys; not 500,000 columns (about 21 x the body)
        assert used < 3 * len(body), used


def test_serving_answers_413() -> None:
    body = b'{"instances": [{' + _keys(5000) + b"}]}"
    r = serving.handle(body, JSON, JSON, lambda b: np.zeros(len(b)), env={})
    assert (r.status, r.body) == (413, (_over(JSON, 4096) + "\n").encode())


def test_the_limit_outside_decode_within() -> None:
    assert column_limit() is None
    with pytest.raises(RuntimeError, match=r"columns_refused\(\) outside decode_within"):
        columns_refused()
    # the plain verb has no column limit
    body = b'{"instances": [{' + _keys(5000) + b"}]}"
    assert len(smp.decode_request(body, JSON).features) == 5000


@given(
    keys=st.lists(
        st.lists(st.sampled_from([f"k{i}" for i in range(12)]), unique=True, max_size=8),
        min_size=1,
        max_size=5,
    ),
    limit=st.integers(0, 12),
    lines=st.booleans(),
)
def test_within_the_limit_exactly_as_without(keys: list[list[str]], limit: int, lines: bool) -> None:
    records = [{k: float(i) for i in range(1) for k in rec} for rec in keys]
    distinct = len({k for rec in keys for k in rec})
    ct = JSONL if lines else JSON
    body = (
        b"".join(json.dumps(r).encode() + b"\n" for r in records) if lines else json.dumps(records).encode()
    )

    def run() -> Any:
        try:
            return smp.decode_request(body, ct, limits=Limits(max_columns=limit))
        except PayloadTooLargeError as e:
            return ("413", e.unit, e.limit)
        except smp.DecodeError as e:
            return ("error", e.reason, e.offset, e.line, e.record_index)

    got = run()
    if distinct > limit:
        assert got == ("413", "columns", limit)
    else:
        try:
            want: Any = smp.decode_request(body, ct)
        except smp.DecodeError as e:
            want = ("error", e.reason, e.offset, e.line, e.record_index)
        same_outcome(got, want)


# --------------------------------------------------------------------------------------
# A request document that is one record object is read by the column reader too (so its
# keys are counted there); every path gives the general path's outcome
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "b": [1, 2]}',
        b'{"uid": "u", "a": "x", "metadata": "m"}',
        b'{"data": {"a": 1}, "label": {"b": [2, 3]}}',
        b'{"a": 1, "instances": [1]}',  # "instances" beside other keys: an error
        b'{"a": 1} x',
        b'{"a": 1, "a": 2}',
        b'{"a": 1, "b": true}',
        b'  {"features": [1, 2], "label": 3}  ',
    ],
)
def test_a_document_of_one_record(body: bytes) -> None:
    all_paths(body, False)


def test_a_document_of_one_record_is_read_by_the_column_reader() -> None:
    if J._CREC is None:
        pytest.skip("the C extension is not built")
    body = b'{"a": 1, "b": [1, 2]}'
    got = J._CREC.json_records(body, 0, len(body), False, True)
    assert got is not None and got[0] == 1 and [c[:2] for c in got[1]] == [("a", "n"), ("b", "v")]
    # an "instances" key after others is the general path's error: declined
    body = b'{"a": 1, "instances": [[1]]}'
    assert J._CREC.json_records(body, 0, len(body), False, True) is None


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "uid", "data", "features"]), st.sampled_from([1, [1, 2], "t", {"x": 1}])
    )
)
def test_random_documents_of_one_record(record: dict[str, Any]) -> None:
    all_paths(json.dumps(record).encode(), False)


# --------------------------------------------------------------------------------------
# RecordIO-protobuf: map keys are columns
# --------------------------------------------------------------------------------------

RIO = "application/x-recordio-protobuf"


def _wide_record(keys: int) -> bytes:
    cols = {f"k{i}": np.full((1, 1), i, np.float32) for i in range(keys)}
    return smp.encode_request(smp.RecordBatch(features=cols), RIO)


@pytest.mark.parametrize(("keys", "limit"), [(5000, 4096), (5000, 100), (4097, 4096)])
def test_recordio_keys_past_the_readers_are_refused(path: str, keys: int, limit: int) -> None:
    body = _wide_record(keys)
    got = _refusal(lambda: smp.decode_request(body, RIO, limits=Limits(max_columns=limit)))
    assert got == (_over(RIO, limit), limit + 1, limit, "columns")


def test_recordio_keys_within_the_readers(path: str) -> None:
    body = _wide_record(200)
    got = _refusal(lambda: smp.decode_request(body, RIO, limits=Limits(max_columns=100)))
    assert got == (_over(RIO, 100), 101, 100, "columns")
    batch = smp.decode_request(body, RIO, limits=Limits(max_columns=200))
    assert len(batch.features) == 200 and batch.features["k199"].tolist() == [[199.0]]


def test_recordio_a_million_keys_refused_at_once() -> None:
    body = _wide_record(20_000)
    used = peak(lambda: _refusal(lambda: smp.decode_request(body, RIO, limits=SERVING)))
    if J._CREC is not None:
        # the key table and frames: no column built (20,000 of them take about 6 MB)
        assert used < 1_500_000, used


def test_recordio_few_long_records_skip_the_template() -> None:
    # two records of one length, each over 64 KiB: read by the fast readers, not by a
    # template of record 0 read key by key
    from sm_payloads.formats import _record_reader as R

    cols = {f"a_long_key_name_{i:05d}": np.arange(2, dtype=np.float32).reshape(2, 1) + i for i in range(3000)}
    body = smp.encode_request(smp.RecordBatch(features=cols), RIO)
    assert len(body) > 2 * R._TEMPLATE_BYTES
    with pytest.MonkeyPatch.context() as m:
        m.setattr(R, "template_decode", lambda *a, **k: pytest.fail("the template was tried"))
        batch = smp.decode_request(body, RIO)
    assert batch.n == 2 and batch.features["a_long_key_name_02999"].tolist() == [[2999.0], [3000.0]]


def _entry_bytes(key: bytes, value: bytes | None) -> bytes:
    from tests.helpers import ld

    inner = ld(1, key) + (b"" if value is None else ld(2, value))
    return ld(1, inner)


def test_live_keys_counts_keys_whose_last_entry_holds_a_value() -> None:
    from sm_payloads.formats import _record_reader as R
    from sm_payloads.recordio import frame_table, write_records
    from tests.helpers import ld

    if R.crecordio is None:
        pytest.skip("the C extension is not built")
    f32 = ld(2, ld(1, b"\x00\x00\x80\x3f"))

    def live(records: list[bytes], limit: int, named: int = 0) -> int:
        body = write_records(records)
        starts, lengths, _ = frame_table(memoryview(body), RIO)
        return int(R.crecordio.live_keys(np.frombuffer(body, np.uint8), starts, lengths, limit, named))

    a, b = _entry_bytes(b"a", f32), _entry_bytes(b"b", f32)
    gone_a = _entry_bytes(b"a", None)
    assert live([a + b], 10) == 2
    assert live([a + b + gone_a], 10) == 1  # removed in its record: no column
    assert live([a + b + gone_a, a], 10) == 2  # a column of the second record
    assert live([a + _entry_bytes(b"a", b"")], 10) == 0  # an empty Value is none
    assert live([a + b, b], 0) == 1  # counting stops past the limit
    # named past the limit: a first pass without lookups, where every entry holds a value
    assert live([a + b], 1, named=4097) == 2  # (limit + 1)
    assert live([a + b, gone_a], 1, named=4097) == 2  # an entry without a value last: looked up
    assert live([gone_a + a], 5, named=4097) == 1
    assert live([ld(1, ld(1, b"k") + ld(1, b"k"))], 10) == -1  # a key twice in an entry: not sure
