"""smp.serving's small-body routes: a one-line CSV request read without the general path's
layers, and a one-record JSON answer of scalars written directly. Each gives exactly what the
general path gives (batch, bytes, status, errors): compared here with that path forced."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import serving
from sm_payloads.api import decode_within, encode_response
from sm_payloads.codec import Codec
from sm_payloads.formats.csv import CsvCodec
from sm_payloads.formats.json import JsonCodec
from sm_payloads.limits import SERVING, Limits
from sm_payloads.record import trusted_batch
from sm_payloads.registry import CODECS, get_codec

JSON = "application/json"
CSV = "text/csv"


@pytest.fixture
def general(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every small-body route off: the general path alone."""
    monkeypatch.setattr(serving, "SMALL_BODY_BYTES", -1)
    monkeypatch.setattr(serving, "_plain_json", lambda: False)
    monkeypatch.setattr(serving, "_PLAIN_DTYPES", frozenset())


def both(run: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """`run()` with the small-body routes, then with the general path alone."""
    fast = run()
    with monkeypatch.context() as m:
        m.setattr(serving, "SMALL_BODY_BYTES", -1)
        m.setattr(serving, "_plain_json", lambda: False)
        m.setattr(serving, "_PLAIN_DTYPES", frozenset())
        slow = run()
    return fast, slow


def same_batch(a: smp.RecordBatch, b: smp.RecordBatch) -> None:
    assert a.equals(b, bitwise=True)
    assert len(a) == len(b)
    for name in ("features", "label"):
        ma, mb = getattr(a, name), getattr(b, name)
        assert list(ma) == list(mb)
        for key in ma:
            x, y = ma[key], mb[key]
            assert type(x) is type(y) is np.ndarray
            assert (x.dtype, x.shape, x.flags.writeable) == (y.dtype, y.shape, y.flags.writeable)
            assert x.tobytes() == y.tobytes()
    assert (a.uid, a.metadata, a.configuration) == (b.uid, b.metadata, b.configuration)


# -- the CSV request -----------------------------------------------------------------------

FIELDS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "0",
            "-0",
            "+1",
            ".5",
            "5.",
            "1e5",
            "1E-3",
            "-2.5e-310",
            "1e400",
            "-1e400",
            " 1",
            "2 ",
            "\t3",
            "nan",
            "NaN",
            "inf",
            "-Infinity",
            "0x10",
            "",
            "abc",
            '"1"',
            "1,5",
            "1_0",
            "\u0661",
            "é",
            "1e",
            "--1",
            "1.2.3",
            "\x00",
        ]
    ),
)
ENDS = st.sampled_from(["", "\n", "\r\n", "\r", "\n\n", "\n1,2\n", "\r\r\n", " \n"])
STARTS = st.sampled_from(["", "", "", "\n", "\r\n", "\ufeff", " ", "\ufffe"])


@st.composite
def csv_bodies(draw: st.DrawFn) -> bytes:
    fields = draw(st.lists(FIELDS, min_size=1, max_size=12))
    text = draw(STARTS) + ",".join(fields) + draw(ENDS)
    return text.encode("utf-8")


def decoded(codec: Codec, body: bytes, bounds: Limits) -> Any:
    """`decode_within`'s batch, or its error (type and message)."""
    try:
        return decode_within(codec, body, bounds)
    except smp.PayloadError as e:
        return (type(e), str(e))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(body=csv_bodies())
def test_the_one_record_csv_route_reads_what_the_general_path_reads(body: bytes) -> None:
    codec = get_codec(CSV)
    fast = serving._one_csv_record(body, codec, SERVING)  # type: ignore[arg-type]
    slow = decoded(codec, body, SERVING)
    if fast is not None:
        assert isinstance(slow, smp.RecordBatch), slow
        same_batch(fast, slow)
        assert len(fast) == 1


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    body=csv_bodies(),
    records=st.sampled_from([None, 0, 1, 2]),
    elements=st.sampled_from([None, 0, 1, 3, 12]),
    size=st.sampled_from([None, 0, 10, 100, 10_000]),
)
def test_the_csv_route_takes_no_body_the_bounds_refuse(
    body: bytes, records: int | None, elements: int | None, size: int | None
) -> None:
    bounds = Limits(max_bytes=size, max_records=records, max_elements=elements)
    codec = get_codec(CSV)
    fast = serving._one_csv_record(body, codec, bounds)  # type: ignore[arg-type]
    slow = decoded(codec, body, bounds)
    if fast is not None:
        assert isinstance(slow, smp.RecordBatch), slow
        same_batch(fast, slow)


@pytest.mark.parametrize(
    ("body", "values"),
    [
        (b"1,2.5,-3\n", [[1.0, 2.5, -3.0]]),
        (b"1,2.5,-3", [[1.0, 2.5, -3.0]]),
        (b"1,2.5,-3\r\n", [[1.0, 2.5, -3.0]]),
        (b"0.1", [[0.1]]),
        (b"1e-5,-0", [[1e-5, -0.0]]),
        (b" 1 , 2 \n", [[1.0, 2.0]]),
        (b"1,inf\n", [[1.0, np.inf]]),
        (b"1,,nan\n", [[1.0, np.nan, np.nan]]),  # an empty field is a missing value
    ],
)
def test_the_csv_route_takes_a_line_of_numbers(body: bytes, values: list[list[float]]) -> None:
    batch = serving._one_csv_record(body, get_codec(CSV), SERVING)  # type: ignore[arg-type]
    assert batch is not None and len(batch) == 1 and list(batch.label) == []
    col = batch.features["values"]
    assert col.dtype == np.float64 and not col.flags.writeable
    expected = np.array(values, np.float64)
    assert np.array_equal(col, expected, equal_nan=True)
    assert np.signbit(col).tolist() == np.signbit(expected).tolist()


@pytest.mark.parametrize(
    "body",
    [
        b"1,2\n3,4\n",  # two records
        b"\n1,2\n",  # a blank line first
        b'"1",2\n',  # a quote
        b"\xef\xbb\xbf1,2\n",  # a byte order mark
        b"1,2\r",  # a carriage return that ends no line
        b"1,abc\n",  # text: the careful reader's
        b"1,1e400\n",  # out of range: the careful reader's error
        b"1,0x10\n",  # text
        b" \n",  # text
        b"\xc3\xa9\n",  # not ASCII
    ],
)
def test_the_csv_route_leaves_the_rest_to_the_general_path(body: bytes) -> None:
    assert serving._one_csv_record(body, get_codec(CSV), SERVING) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "content_type", ["text/csv; label_size=1", "text/csv; header=present", "text/csv; charset=us-ascii"]
)
def test_the_csv_route_reads_with_the_defaults_only(content_type: str) -> None:
    codec = get_codec(content_type)
    got = serving._one_csv_record(b"1,2\n", codec, SERVING)  # type: ignore[arg-type]
    if "charset" in content_type:  # the same reading, whatever the (validated) charset
        assert got is not None
        same_batch(got, decode_within(codec, b"1,2\n", SERVING))
    else:
        assert got is None
    dtyped = CsvCodec(dtype="float32")
    assert serving._one_csv_record(b"1,2\n", dtyped, SERVING) is None


def test_the_csv_route_refuses_what_the_bounds_refuse() -> None:
    codec = get_codec(CSV)
    body = b"1,2,3\n"
    assert serving._one_csv_record(body, codec, Limits(max_elements=2)) is None  # type: ignore[arg-type]
    assert serving._one_csv_record(body, codec, Limits(max_records=0)) is None  # type: ignore[arg-type]
    assert serving._one_csv_record(body, codec, Limits(max_bytes=5)) is None  # type: ignore[arg-type]
    ok = serving._one_csv_record(body, codec, Limits(max_elements=3, max_records=1, max_bytes=6))  # type: ignore[arg-type]
    assert ok is not None and ok.features["values"].tolist() == [[1.0, 2.0, 3.0]]
    # Through the handler: the general path's 413s, word for word.
    h = serving.Handler(lambda b: b.to_numpy().sum(axis=1), env={}, limits=Limits(max_elements=2))
    r = h(body, CSV, JSON)
    assert r == serving.Response(
        413,
        b"text/csv tensor features['values'] of 3 elements exceeds the limit of 2 elements (record 0)\n",
        "text/plain; charset=utf-8",
    )


# -- the JSON answer -----------------------------------------------------------------------

KEYS = st.one_of(st.text(max_size=6), st.sampled_from(["score", "values", "\ud800", 'a"b', "é\n"]))
FLOAT_VALUES = st.floats(allow_nan=True, allow_infinity=True)
DTYPES = st.sampled_from(["float64", "float32", "int32", "int64", "float16", ">f8", "bool"])


@st.composite
def columns(draw: st.DrawFn, n: int) -> np.ndarray:
    dtype = np.dtype(draw(DTYPES))
    if dtype.kind == "f":
        raw = draw(st.lists(FLOAT_VALUES, min_size=n, max_size=n))
        with np.errstate(over="ignore"):
            col = np.array(raw, np.float64).astype(dtype)
    elif dtype.kind == "b":
        col = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype)
    else:
        info = np.iinfo(dtype)
        ints = st.integers(max(info.min, -(2**40)), min(info.max, 2**40))
        col = np.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype)
    shape = draw(st.sampled_from([(n,), (n, 1), (n, 2)]))
    if shape != (n,):
        col = np.repeat(col, shape[1]).reshape(shape)
    if draw(st.booleans()):
        col = col.copy()
        col.setflags(write=False)
    if draw(st.booleans()):
        col = np.repeat(col, 2, axis=0)[::2]  # a strided view of the same values
    return col


@st.composite
def answers(draw: st.DrawFn) -> smp.RecordBatch:
    n = draw(st.sampled_from([1, 1, 1, 2]))
    keys = draw(st.lists(KEYS, min_size=0, max_size=3, unique=True))
    label = {k: draw(columns(n)) for k in keys}
    fkeys = draw(st.lists(KEYS, min_size=0, max_size=2, unique=True))
    features = {k: draw(columns(n)) for k in fkeys}
    try:
        return smp.RecordBatch(features, label, n=n)
    except smp.EncodeError:
        reject()  # an int64 beyond int32: no batch


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batch=answers())
def test_the_one_record_json_answer_is_the_general_writers(batch: smp.RecordBatch) -> None:
    fast = serving._one_json_answer(batch)
    if fast is not None:
        assert fast == encode_response(batch, JSON)
        assert len(batch) == 1


def test_the_json_answer_of_one_record() -> None:
    b = smp.RecordBatch(label={"score": np.array([0.1]), "label": np.array([3], np.int32)})
    assert serving._one_json_answer(b) == b'{"predictions":[{"score":0.1,"label":3}]}'
    f32 = smp.RecordBatch(label={"p": np.array([0.1], np.float32)})
    assert serving._one_json_answer(f32) == b'{"predictions":[{"p":0.1}]}'
    feats = smp.RecordBatch({"v": np.array([2.5])})
    assert serving._one_json_answer(feats) == b'{"predictions":[{"v":2.5}]}'
    strided = smp.RecordBatch(label={"s": np.arange(10.0)[::10], "t": np.arange(20, dtype=np.int32)[5:6]})
    assert (
        serving._one_json_answer(strided)
        == encode_response(strided, JSON)
        == b'{"predictions":[{"s":0.0,"t":5}]}'
    )
    for other in (
        smp.RecordBatch(label={"s": np.array([np.nan])}),  # refused by the general path
        smp.RecordBatch(label={"s": np.array([1.0, 2.0])}),  # two records
        smp.RecordBatch(label={"s": np.array([[1.0, 2.0]])}),  # a vector
        smp.RecordBatch(label={"s": np.array(["a"])}),  # text
        smp.RecordBatch(label={"\ud800": np.array([1.0])}),  # a lone surrogate in a key
        smp.RecordBatch(n=1),
        np.array([1.0]),
        [{"s": 1.0}],
    ):
        assert serving._one_json_answer(other) is None


PREDICTIONS = st.one_of(
    answers(),
    columns(1),
    columns(2),
    st.lists(st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.booleans()), min_size=0, max_size=3),
    st.lists(st.dictionaries(KEYS, st.one_of(st.floats(), st.integers(-5, 5)), max_size=2), max_size=2),
    st.just(None),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    body=st.sampled_from([b"1,2\n", b"1,2\n3,4\n", b"0.5\n"]),
    prediction=PREDICTIONS,
    accept=st.sampled_from(
        [JSON, CSV, "application/jsonlines", "application/x-npy", "application/json; x=1"]
    ),
    out_limit=st.sampled_from([None, 10, 30, 2**20]),
)
def test_the_handlers_answer_is_the_general_paths(
    body: bytes, prediction: Any, accept: str, out_limit: int | None
) -> None:
    def run() -> serving.Response:
        h = serving.Handler(lambda b: prediction, env={}, max_response_bytes=out_limit)
        return h(body, CSV, accept)

    mp = pytest.MonkeyPatch()
    try:
        fast, slow = both(run, mp)
    finally:
        mp.undo()
    assert fast == slow


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(body=csv_bodies(), accept=st.sampled_from([JSON, CSV, None]))
def test_handle_answers_csv_bodies_as_the_general_path(body: bytes, accept: str | None) -> None:
    def model(b: smp.RecordBatch) -> Any:
        return smp.RecordBatch(label={"score": b.to_numpy().astype(np.float64).sum(axis=1)})

    def run() -> serving.Response:
        return serving.handle(body, CSV, accept, model, env={})

    mp = pytest.MonkeyPatch()
    try:
        fast, slow = both(run, mp)
    finally:
        mp.undo()
    assert fast == slow


def test_the_bench_request_takes_both_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"0.25,1.5,-2\n"
    calls: list[str] = []
    read, write = serving._one_csv_record, serving._one_json_answer

    def spy_read(*a: Any) -> Any:
        calls.append("read")
        return read(*a)

    def spy_write(*a: Any) -> Any:
        calls.append("write")
        return write(*a)

    monkeypatch.setattr(serving, "_one_csv_record", spy_read)
    monkeypatch.setattr(serving, "_one_json_answer", spy_write)
    h = serving.Handler(lambda b: smp.RecordBatch(label={"score": b.to_numpy().sum(axis=1)}), env={})
    r = h(body, CSV, JSON)
    assert r == serving.Response(200, b'{"predictions":[{"score":-0.25}]}', JSON)
    assert calls == ["read", "write"]


def test_per_record_numbers_a_batch_cannot_hold_are_an_answer_not_an_exception() -> None:
    # One value per record that no batch can hold (record.proto has no 64-bit integers): a
    # 500 that says why, in every answer type (the handler used to raise the EncodeError).
    h = serving.Handler(lambda b: [0, 2**31], env={})
    for accept in (JSON, CSV, "application/x-npy"):
        r = h(b"1\n2\n", CSV, accept)
        assert r == serving.Response(
            500,
            f"the prediction cannot be written as {accept}: value 2147483648 of dtype int64 does not "
            "fit int32 (record.proto has no 64-bit integer tensor)\n".encode(),
            "text/plain; charset=utf-8",
        )
    assert serving.handle(b"1\n", CSV, JSON, lambda b: np.array([2**40]), env={}).status == 500


def test_an_answer_over_the_limit_is_the_general_paths_413() -> None:
    h = serving.Handler(lambda b: np.array([0.5]), env={}, max_response_bytes=20)
    r = h(b"1\n", CSV, JSON)
    assert r.status == 413
    assert len(b'{"predictions":[{"values":0.5}]}') == 32
    assert r.body.startswith(
        b"the prediction written as application/json is 32 bytes, over the response limit of 20"
    )


def test_another_json_codec_registered_writes_the_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    class Enveloped(JsonCodec):
        def encode_response(self, data: Any, /) -> bytes:
            return b"<" + super().encode_response(data) + b">"

    monkeypatch.setitem(CODECS, JSON, Enveloped)
    h = serving.Handler(lambda b: np.array([0.5]), env={})
    assert h(b"1\n", CSV, JSON).body == b'<{"predictions":[{"values":0.5}]}>'
    assert serving._plain_json() is False
    monkeypatch.setitem(CODECS, JSON, JsonCodec)
    assert serving._plain_json() is True


# -- the trusted batch ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 3),
    dtype=st.sampled_from(["float64", "float32", "int32"]),
    width=st.sampled_from([None, 1, 3]),
    where=st.sampled_from(["features", "label", "both"]),
)
def test_trusted_batch_is_the_constructors_batch(n: int, dtype: str, width: int | None, where: str) -> None:
    shape = (n,) if width is None else (n, width)
    col = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    ro = col.view()
    ro.setflags(write=False)
    features = {"values": ro} if where in ("features", "both") else {}
    label = {"score": ro} if where in ("label", "both") else {}
    same_batch(trusted_batch(dict(features), dict(label), n), smp.RecordBatch(features, label, n=n))


def test_the_constructor_keeps_its_checks() -> None:
    with pytest.raises(smp.EncodeError, match="features must be a mapping"):
        smp.RecordBatch([("values", np.ones(2))])  # type: ignore[arg-type]
    with pytest.raises(smp.EncodeError, match="label keys must be str, got 1"):
        smp.RecordBatch(label={1: np.ones(2)})  # type: ignore[dict-item]
    with pytest.raises(smp.EncodeError, match=r"has 3 rows but the batch has 2 records"):
        smp.RecordBatch({"a": np.ones(2)}, {"b": np.ones(3)})
    with pytest.raises(
        smp.EncodeError, match=r"features\['a'\]: a column needs one row per record; got a 0-d value"
    ):
        smp.RecordBatch({"a": {"x": 1}})
    with pytest.raises(smp.EncodeError, match="value 2147483648 of dtype int64 does not fit int32"):
        smp.RecordBatch(label={"s": np.array([2**31])})
    out = np.ones(2)
    b = smp.RecordBatch(label={"s": out})
    assert out.flags.writeable and not b.label["s"].flags.writeable and b.label["s"].base is out
    e = smp.RecordBatch()
    assert len(e) == 0 and dict(e.features) == {} and dict(e.label) == {}
    with pytest.raises(TypeError):
        e.features["x"] = out  # type: ignore[index]


def test_the_json_answers_key_names_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "_JSON_KEYS", {})
    for i in range(600):
        b = smp.RecordBatch(label={f"k{i}": np.array([i], np.int32)})
        assert serving._one_json_answer(b) == b'{"predictions":[{"k%d":%d}]}' % (i, i)
        assert len(serving._JSON_KEYS) <= 256
    assert serving._JSON_KEYS["k599"] == b'"k599":'

    class Name(str):
        pass

    b = smp.RecordBatch(label={Name("s"): np.array([1.0])})
    assert serving._one_json_answer(b) is None
    assert encode_response(b, JSON) == b'{"predictions":[{"s":1.0}]}'


# -- the CSV answer of one record ------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(),
    st.floats(width=32),
    st.sampled_from([0.0, -0.0, 1e16, 1e-5, 1e-4, 9.999e15, 1e300, 5e-324, -1.5e-7, 123456789.0]),
)


@st.composite
def one_record_outputs(draw: st.DrawFn) -> smp.RecordBatch:
    dtype = draw(st.sampled_from(["float64", "float32", "int32"]))
    if draw(st.booleans()):  # the one unnamed output of k numbers
        k = draw(st.integers(1, 5))
        if dtype == "int32":
            vals = draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=k, max_size=k))
        else:
            vals = draw(st.lists(NUMBERS, min_size=k, max_size=k))
        with np.errstate(over="ignore"):
            return smp.RecordBatch(label={"values": np.array([vals], np.float64).astype(dtype)})
    label = {}
    for key in draw(
        st.lists(st.sampled_from(["score", "label", "p", "q"]), min_size=1, max_size=4, unique=True)
    ):
        dt = draw(st.sampled_from(["float64", "float32", "int32"]))
        if dt == "int32":
            v: Any = draw(st.integers(-(2**31), 2**31 - 1))
        else:
            v = draw(NUMBERS)
        with np.errstate(over="ignore"):
            label[key] = np.array([v], np.float64).astype(dt)
    return smp.RecordBatch(label=label)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batch=one_record_outputs(), header=st.booleans(), reverse=st.booleans())
def test_the_one_record_csv_answer_is_the_general_writers(
    batch: smp.RecordBatch, header: bool, reverse: bool
) -> None:
    from sm_payloads.formats import csv as csv_format

    keys = list(batch.label)[::-1] if reverse else None
    fast = csv_format.encode_response(batch, keys=keys, header=header)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(csv_format, "_one_row", lambda names, cols: None)
        slow = csv_format.encode_response(batch, keys=keys, header=header)
    finally:
        mp.undo()
    assert fast == slow


def test_the_one_record_csv_answer() -> None:
    from sm_payloads.formats import csv as csv_format

    b = smp.RecordBatch(label={"score": np.array([0.25]), "n": np.array([3], np.int32)})
    assert csv_format._one_row(["score", "n"], [b.label["score"], b.label["n"]]) == b"0.25,3"
    assert csv_format.encode_response(b) == b"0.25,3\n"
    f = smp.RecordBatch(
        label={"s": np.array([np.nan]), "t": np.array([1e16]), "u": np.array([1e-5], np.float32)}
    )
    assert csv_format.encode_response(f) == b"nan,1e+16,1e-05\n"
    v = smp.RecordBatch(label={"values": np.array([[0.1, 2.0]], np.float32)})
    assert csv_format.encode_response(v) == b"0.1,2.0\n"
    text = smp.RecordBatch(label={"s": np.array(["a"])})
    assert csv_format._one_row(["s"], [text.label["s"]]) is None
    assert csv_format.encode_response(text) == b"a\n"


def test_a_csv_answer_of_records_without_values_is_refused_with_a_reason() -> None:
    # A row of no fields is an empty line, which a reader takes for no record: an
    # EncodeError (was a ValueError from the number formatter: an opaque 500).
    from sm_payloads.formats import csv as csv_format

    with pytest.raises(smp.EncodeError, match="the output 'values' has no values per record"):
        csv_format.encode_response(smp.RecordBatch(label={"values": np.zeros((2, 0))}))
    h = serving.Handler(lambda b: np.zeros((1, 0)), env={})
    r = h(b"1\n", CSV, CSV)
    assert r.status == 406
    assert r.body.startswith(
        b"the prediction cannot be written as text/csv: the output 'values' has no values"
    )


# -- the depth check of a short JSON body ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet='[]{}"\\:,1 a', max_size=80),
    max_depth=st.integers(0, 12),
    ct=st.sampled_from([JSON, "application/jsonlines"]),
)
def test_a_short_bodys_depth_check_refuses_what_the_scan_refuses(text: str, max_depth: int, ct: str) -> None:
    # A body with no more brackets than the limit skips the scan: it cannot be refused, and
    # the scan agrees; any other goes through the scan.
    from sm_payloads import limits as limits_module

    body = text.encode()
    lim = Limits(max_depth=max_depth)
    depth, _ = limits_module.json_depth(body, max_depth)
    if limits_module._shallow(body, max_depth):
        assert depth <= max_depth
    try:
        lim.check_size(body, ct)
        refused = False
    except smp.DecodeError as e:
        refused = True
        assert str(e).startswith(f"{ct}: nested deeper than the limit of {max_depth} levels")
    assert refused == (depth > max_depth)


def test_a_short_body_within_the_depth_is_not_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    from sm_payloads import limits as limits_module

    scans: list[int] = []
    real = limits_module.json_depth

    def counted(data: Any, stop_above: int | None = None) -> tuple[int, int | None]:
        scans.append(len(data))
        return real(data, stop_above)

    monkeypatch.setattr(limits_module, "json_depth", counted)
    one = b'{"instances":[{"features":[0.25,1.5]}]}'  # 3 brackets that open
    SERVING.check_size(one, JSON)
    assert scans == []
    Limits(max_depth=2).check_size(b"[[1]]", JSON)  # 2 openers, depth 2: within
    assert scans == []
    with pytest.raises(smp.DecodeError, match="nested deeper than the limit of 2 levels"):
        Limits(max_depth=2).check_size(b"[[[1]]]", JSON)
    assert scans == [7]
    long = b"[" + b"1," * 3000 + b"1]"  # over 4 KiB: scanned, whatever it holds
    SERVING.check_size(long, JSON)
    assert scans == [7, len(long)]
    SERVING.check_size(bytearray(one), JSON)  # not bytes: scanned
    assert scans[-1] == len(one)
