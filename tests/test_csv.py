"""text/csv: golden cases, SDK byte equality, exact errors, and properties."""

from __future__ import annotations

import csv as pycsv
import io
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _csv_text, _textnum
from sm_payloads.formats import csv as c

from .helpers import arrays, assert_batches_equal

CT = "text/csv"


def sdk_csv(a: np.ndarray) -> bytes:
    from sagemaker.serializers import CSVSerializer

    return CSVSerializer().serialize(a).encode("utf-8")


def careful(data: bytes, **kw: object) -> smp.RecordBatch:
    """Decode through the careful reader only (the fast path switched off)."""
    original = c._Region.fast
    c._Region.fast = lambda self, data, lo, hi: None  # type: ignore[method-assign]
    try:
        return c.decode(data, **kw)  # type: ignore[arg-type]
    finally:
        c._Region.fast = original  # type: ignore[method-assign]


def error(data: bytes, **kw: object) -> smp.DecodeError:
    with pytest.raises(smp.DecodeError) as info:
        c.decode(data, **kw)  # type: ignore[arg-type]
    return info.value


# --------------------------------------------------------------------------------------
# Golden cases
# --------------------------------------------------------------------------------------


def test_aws_docs_single_record() -> None:
    """docs/formats/csv.md, "Requests" ("Common Data Formats for Inference"): the four-feature
    record 1.5,16.0,14,23.0 is one record, never a 1-D surprise."""
    b = c.decode(b"1.5,16.0,14,23.0")
    assert len(b) == 1 and not b.label
    f = b.features["values"]
    assert f.dtype == np.float64 and f.shape == (1, 4) and f.tolist() == [[1.5, 16.0, 14.0, 23.0]]


def test_aws_docs_label_size_0_content_type() -> None:
    """The Developer Guide's ``Content-type: text/csv;label_size=0`` (docs/formats/csv.md,
    "What the SageMaker side expects")."""
    codec = smp.registry.CODECS.get(CT, c.CsvCodec).from_params({"label_size": "0"})
    b = codec.decode(b"1.5,16.0,14,23.0\n-2.0,100.2,15.2,9.2\n")
    assert b.features["values"].tolist() == [[1.5, 16.0, 14.0, 23.0], [-2.0, 100.2, 15.2, 9.2]]
    assert not b.label


def test_aws_docs_writer_matches_doc_record() -> None:
    """The inference formats page's record written by us (and by the SDK) from float32 values."""
    X = np.array([[1.5, 16.0, 14, 23.0]], np.float32)
    assert c.encode(smp.from_dense(X)) == b"1.5,16.0,14.0,23.0" == sdk_csv(X)


def test_formats_2_1_training_label_first() -> None:
    """docs/formats/csv.md, "What the SageMaker side expects": the target is the first column
    (label_size=1)."""
    b = c.decode(b"1,0.5,0.25\n0,1.5,2.5\n", label_size=1)
    assert b.label["values"].tolist() == [1.0, 0.0] and b.label["values"].shape == (2,)
    assert b.features["values"].tolist() == [[0.5, 0.25], [1.5, 2.5]]
    assert c.encode(b, label_size=1) == b"1.0,0.5,0.25\n0.0,1.5,2.5"


def test_formats_4_1_kmeans_csv_response() -> None:
    """docs/formats/csv.md, "Responses": k-means ``Accept: text/csv`` rows
    ``closest_cluster,distance_to_cluster``."""
    body = b"1.0,3.0\n2.0,5.0\n"
    keys = ["closest_cluster", "distance_to_cluster"]
    b = c.decode_response(body, keys=keys)
    assert list(b.label) == keys
    assert b.label["closest_cluster"].tolist() == [1.0, 2.0]
    assert b.label["distance_to_cluster"].tolist() == [3.0, 5.0]
    out = smp.RecordBatch(label={k: np.asarray(v, np.float32) for k, v in b.label.items()})
    assert c.encode_response(out) == body


def test_formats_6_5_1_xgboost_selectable_rows() -> None:
    """XGBoost's selectable output (docs/autopilot.md, "Algorithm container"; the container's
    unit test): ``1,"[0.4, 0.6]"\\n0,"[0.9, 0.1]"``."""
    b = c.decode_response(b'1,"[0.4, 0.6]"\n0,"[0.9, 0.1]"', keys=["predicted_label", "probabilities"])
    assert b.label["predicted_label"].tolist() == [1.0, 0.0]
    assert b.label["probabilities"].tolist() == [[0.4, 0.6], [0.9, 0.1]]


def test_formats_6_5_1_worked_example() -> None:
    """docs/autopilot.md, "Algorithm container": the worked example (binary:logistic, four keys)."""
    body = (
        b'1,0.8234567046165466,"[0.17654329538345337, 0.8234567046165466]","[0, 1]"\n'
        b'0,0.10000000149011612,"[0.8999999985098839, 0.10000000149011612]","[0, 1]"\n'
    )
    keys = ["predicted_label", "probability", "probabilities", "labels"]
    b = c.decode_response(body, keys=keys)
    assert b.label["probability"].tolist() == [0.8234567046165466, 0.10000000149011612]
    assert np.float32(b.label["probability"][0]) == np.float32(0.8234567)
    assert b.label["probabilities"][1].tolist() == [0.8999999985098839, 0.10000000149011612]
    assert b.label["labels"].tolist() == [[0.0, 1.0], [0.0, 1.0]]


def test_formats_6_5_2_post_processing_row() -> None:
    """docs/autopilot.md, "Post-processing container": an inverse-label-transform row with a
    Python list literal."""
    body = b"True.,0.8234567046165466,\"[0.17654329538345337, 0.8234567046165466]\",\"['False.', 'True.']\"\n"
    b = c.decode_response(body, keys=["predicted_label", "probability", "probabilities", "labels"])
    assert b.label["predicted_label"].tolist() == ["True."]
    assert b.label["labels"].tolist() == [["False.", "True."]]


def test_formats_6_5_3_clarify_lists_without_spaces() -> None:
    """docs/autopilot.md, "Ensembling container" (the Clarify page "Pre-check the model
    container"): ``"['cat','dog','fish']","[0.1,0.6,0.3]"``."""
    body = b"\"['cat','dog','fish']\",\"[0.1,0.6,0.3]\"\n\"['cat','dog','fish']\",\"[0.2,0.5,0.3]\"\n"
    b = c.decode_response(body, keys=["labels", "probabilities"])
    assert b.label["labels"].tolist() == [["cat", "dog", "fish"]] * 2
    assert b.label["probabilities"].tolist() == [[0.1, 0.6, 0.3], [0.2, 0.5, 0.3]]


def test_formats_6_5_1_nan_spelling() -> None:
    """XGBoost writes NaN as ``nan`` in CSV (docs/autopilot.md, "Algorithm container"); our
    writer spells it the same (docs/formats/csv.md, "How numbers are spelled")."""
    b = c.decode_response(b"1,nan\n", keys=["predicted_label", "probability"])
    assert np.isnan(b.label["probability"][0])
    out = smp.RecordBatch(label={"p": np.array([np.nan, np.inf, -np.inf], np.float32)})
    assert c.encode_response(out) == b"nan\ninf\n-inf\n"


def test_formats_2_1_ip_insights_strings() -> None:
    """docs/formats/csv.md, "What the SageMaker side expects": IP Insights rows
    ``entity_id_1, 192.168.1.2`` are text (kept verbatim)."""
    b = c.decode(b"entity_id_1, 192.168.1.2\nentity_id_2,10.10.1.2\n")
    assert b.features["values"].tolist() == [["entity_id_1", " 192.168.1.2"], ["entity_id_2", "10.10.1.2"]]
    assert c.encode(b) == b"entity_id_1, 192.168.1.2\nentity_id_2,10.10.1.2"


def test_string_label_travels() -> None:
    """A label such as "cat" goes out and back through CSV."""
    batch = smp.RecordBatch(
        {"values": np.array([[1.5, 2.0], [3.0, 4.0]])}, {"values": np.array(["cat", "a,b"])}
    )
    body = c.encode(batch, label_size=1)
    assert body == b'cat,1.5,2.0\n"a,b",3.0,4.0'
    assert_batches_equal(c.decode(body, label_size=1), batch)


# --------------------------------------------------------------------------------------
# Parsing details
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"1,2\n3,4", b"1,2\n3,4\n", b"1,2\r\n3,4\r\n", b"1,2\r\n3,4", b"\n1,2\n\n3,4\n\n", b'"1",2\n3,"4"\n'],
)
def test_line_ends_blank_lines_quotes(body: bytes) -> None:
    assert c.decode(body).features["values"].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_quoted_fields_rfc4180() -> None:
    body = b'"a ""quoted"" word","line\nbreak",x\r\nb,"",y\r\n'
    b = c.decode(body)
    assert b.features["values"].tolist() == [['a "quoted" word', "line\nbreak", "x"], ["b", "", "y"]]
    # csv.writer quotes only what needs it: the empty field is written bare
    assert c.encode(b) == b'"a ""quoted"" word","line\nbreak",x\nb,,y'


def test_empty_fields_are_missing_values() -> None:
    """docs/formats/csv.md, "Numbers and text": empty fields are NaN (XGBoost's missing value)."""
    v = c.decode(b"1,,3\n,5,6\n").features["values"]
    assert np.isnan(v[0, 1]) and np.isnan(v[1, 0]) and v[0, 2] == 3.0


def test_number_grammar() -> None:
    body = b"1e5,-1.5E-3,+2,.5,5.,nan,-Inf,infinity, 7 ,0x10"
    assert c.decode(body).features["values"].dtype.kind == "O"  # 0x10 is not a number
    v = c.decode(body[: body.rindex(b",")]).features["values"][0]
    assert v[:5].tolist() == [1e5, -1.5e-3, 2.0, 0.5, 5.0]
    assert np.isnan(v[5]) and v[6] == -np.inf and v[7] == np.inf and v[8] == 7.0


def test_empty_body_and_bom() -> None:
    assert len(c.decode(b"")) == 0
    assert len(c.decode(b"\n\r\n")) == 0
    assert c.decode(b"\xef\xbb\xbf1,2\n").features["values"].tolist() == [[1.0, 2.0]]


def test_header_present() -> None:
    body = b"label,a,b\n1,2,3\n"
    assert c.read_header(body) == ("label", "a", "b")
    b = c.decode(body, header=True, label_size=1)
    assert b.label["values"].tolist() == [1.0] and b.features["values"].tolist() == [[2.0, 3.0]]
    r = c.decode_response(b"score,predicted_label\n0.4,1\n", header=True)
    assert list(r.label) == ["score", "predicted_label"]
    assert c.encode(b, header=True, label_size=1) == b"label,f_0,f_1\n1.0,2.0,3.0"
    assert c.encode_response(r, header=True) == b"score,predicted_label\n0.4,1.0\n"


def test_dtypes() -> None:
    body = b"1,2\n3,4\n"
    assert c.decode(body, dtype="float32").features["values"].dtype == np.float32
    assert c.decode(body, dtype="int32").features["values"].tolist() == [[1, 2], [3, 4]]
    assert c.decode(body, dtype=str).features["values"].tolist() == [["1", "2"], ["3", "4"]]
    with pytest.raises(ValueError, match="dtype must be"):
        c.decode(body, dtype="int64")


def test_float32_via_float64_is_exact() -> None:
    """A float32 printed by the writer parses (float64, then cast) to the same bits."""
    x = np.array([[1.1754944e-38, 3.4028235e38, 1e-45, 0.1, 16777217.0, -0.0]], np.float32)
    got = c.decode(c.encode(smp.from_dense(x)), dtype="float32").features["values"]
    assert got.view(np.uint32).tolist() == x.view(np.uint32).tolist()


def test_long_mantissas_take_the_exact_path() -> None:
    """More digits than the fast path's 2**53 mantissa: exact through float()."""
    fields = [b"0.30000000000000004", b"9007199254740993", b"1.7976931348623157e308", b"123456789012.34567"]
    v = c.decode(b",".join(fields)).features["values"][0]
    assert v.tolist() == [float(f) for f in fields]


# --------------------------------------------------------------------------------------
# Errors: exact messages and fields
# --------------------------------------------------------------------------------------


def test_wrong_width_too_few() -> None:
    e = error(b"1,2,3\n4,5\n")
    assert (
        str(e) == "text/csv: row has 2 fields, expected 3: column 3 is missing at line 2 (byte 9, record 1)"
    )
    assert (e.line, e.offset, e.record_index, e.status_hint) == (2, 9, 1, 400)


def test_wrong_width_too_many() -> None:
    e = error(b"1,2\r\n3,4\r\n5,6,7\r\n")
    assert e.reason == "row has 3 fields, expected 2: column 3 is one too many"
    assert (e.line, e.offset, e.record_index) == (3, 14, 2)


def test_wrong_width_after_blank_lines_and_bom() -> None:
    e = error(b"\xef\xbb\xbf1,2\n\n\n3\n")
    assert (e.line, e.offset, e.record_index) == (4, 10, 1)


def test_not_a_number_with_numeric_dtype() -> None:
    e = error(b"1,2\n3,abc\n", dtype="float64")
    assert str(e) == "text/csv: column 2: 'abc' is not a number (dtype float64) at line 2 (byte 6, record 1)"


def test_int32_out_of_range() -> None:
    e = error(b"1\n2147483648\n", dtype="int32")
    assert e.reason == "column 1: 2147483648.0 is not an int32" and (e.line, e.offset) == (2, 2)


def test_label_size_larger_than_row() -> None:
    e = error(b"1,2\n", label_size=3)
    assert e.reason == "label_size=3 but rows have 2 field(s)" and (e.line, e.offset) == (1, 0)


def test_bad_quotes() -> None:
    e = error(b'1,2\n3,"4\n')
    assert e.reason == "unterminated quoted field (no closing '\"')" and (e.line, e.offset) == (2, 6)
    e = error(b'1,a"b\n')
    assert e.reason == "a '\"' inside an unquoted field (quote the whole field)" and e.offset == 3


def test_bad_utf8_and_utf16() -> None:
    e = error(b"ok,\xff\xfe\n")
    assert e.offset == 3 and e.line == 1 and "not utf-8 text" in e.reason
    e = error("1,2".encode("utf-16"))
    assert e.reason == "the body starts with a UTF-16 byte order mark; text/csv is read as utf-8"
    e = error("é,1".encode(), charset="us-ascii")
    assert "not ascii text" in e.reason and e.offset == 0


def test_params_bad_charset_label_size_header() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError) as info:
        c.CsvCodec.from_params({"charset": "utf-16"})
    assert str(info.value) == (
        "'text/csv; charset=utf-16': charset 'utf-16' is not supported; text/csv is read as utf-8 "
        "(with or without a byte order mark) or us-ascii; supported: text/csv"
    )
    assert info.value.status_hint == 415
    with pytest.raises(smp.UnsupportedMediaTypeError) as info:
        c.CsvCodec.from_params({"label_size": "-1"})
    assert info.value.reason == "label_size must be a non-negative integer, got '-1'"
    with pytest.raises(smp.UnsupportedMediaTypeError) as info:
        c.CsvCodec.from_params({"header": "yes"})
    assert info.value.reason == "header must be 'present' or 'absent', got 'yes'"
    codec = c.CsvCodec.from_params({"label_size": "1", "charset": "UTF-8", "header": "Present"})
    assert (codec.label_size, codec.header) == (1, True)


def test_encode_errors() -> None:
    with pytest.raises(smp.EncodeError, match="label_size=0 but the batch's label has 1 field"):
        c.encode(smp.from_dense(np.ones((1, 2)), [1.0]), label_size=0)
    with pytest.raises(smp.EncodeError, match="dense rows only"):
        c.encode(smp.from_sparse(__import__("scipy.sparse").sparse.eye(2, format="csr")))
    with pytest.raises(smp.EncodeError, match="carries features\\['values'\\] only"):
        c.encode(smp.RecordBatch({"x": np.ones((1, 2))}))
    assert c.encode(smp.RecordBatch(n=0)) == b""


# --------------------------------------------------------------------------------------
# SDK byte equality (the SDK is the oracle)
# --------------------------------------------------------------------------------------

_SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-4, 1e-5, 1e6, 1e16, 1e-300, 5e-324, 3.4028235e38, 1e-45]


@st.composite
def sdk_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from([np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)]))
    shape = draw(
        st.sampled_from([(draw(st.integers(1, 5)),), (draw(st.integers(1, 4)), draw(st.integers(1, 5)))])
    )
    if dtype.kind == "i":
        return draw(arrays(np.dtype(np.int32), shape)).astype(np.int64)
    a = draw(arrays(dtype, shape))
    if draw(st.booleans()):  # sprinkle the spelling boundaries
        flat = a.reshape(-1)
        for i in draw(st.lists(st.integers(0, flat.size - 1), max_size=3)):
            flat[i] = dtype.type(draw(st.sampled_from(_SPECIAL))) * draw(st.sampled_from([1, -1]))
    return a


@given(sdk_arrays())
@settings(max_examples=300)
def test_writer_equals_sdk_csv_serializer(a: np.ndarray) -> None:
    with np.errstate(over="ignore", under="ignore"):
        assert c.encode(smp.from_dense(a)) == sdk_csv(a)


def test_writer_equals_sdk_on_a_large_random_sample() -> None:
    rng = np.random.default_rng(7)
    for dt, ut in ((np.float32, np.uint32), (np.float64, np.uint64)):
        bits = rng.integers(0, np.iinfo(ut).max, size=(200, 50), dtype=ut, endpoint=True)
        a = bits.view(dt)
        assert c.encode(smp.from_dense(a)) == sdk_csv(a)
        scaled = (rng.standard_normal((200, 50)) * 10.0 ** rng.integers(-8, 20, (200, 50))).astype(dt)
        assert c.encode(smp.from_dense(scaled)) == sdk_csv(scaled)


def test_writer_text_quoting_equals_csv_module() -> None:
    rows = [["a", "b,c", 'd"e'], ["", "x\ny", " z "]]
    buf = io.StringIO()
    pycsv.writer(buf, lineterminator="\n").writerows(rows)
    col = np.empty(2, dtype=object)
    col[:] = rows
    assert c.encode(smp.RecordBatch({"values": col})) + b"\n" == buf.getvalue().encode()


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def canonical_nan(a: np.ndarray) -> np.ndarray:
    """Text has one NaN: ``nan`` reads back as the default quiet NaN (no sign, no payload)."""
    a = a.copy()
    a[np.isnan(a)] = np.nan
    return a


@st.composite
def numeric_batches(draw: st.DrawFn) -> tuple[smp.RecordBatch, int]:
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)]))
    X = canonical_nan(draw(arrays(dtype, (n, k))))
    label_size = draw(st.integers(0, 2))
    label = {}
    if label_size:
        y = draw(arrays(dtype, (n,) if label_size == 1 else (n, label_size)))
        label = {"values": canonical_nan(y)}
    return smp.RecordBatch({"values": X}, label), label_size


@given(numeric_batches())
def test_round_trip_bit_exact(case: tuple[smp.RecordBatch, int]) -> None:
    """float32 and float64 text reads back to the same bits (via float64, then a cast)."""
    batch, label_size = case
    dtype = batch.features["values"].dtype
    body = c.encode(batch, label_size=label_size)
    got = c.decode(body, label_size=label_size, dtype=dtype)
    assert_batches_equal(got, batch)
    assert_batches_equal(careful(body, label_size=label_size, dtype=dtype), got)


@given(st.lists(st.lists(st.text(max_size=6), min_size=2, max_size=2), min_size=1, max_size=5))
def test_round_trip_text(rows: list[list[str]]) -> None:
    col = np.empty(len(rows), dtype=object)
    col[:] = rows
    batch = smp.RecordBatch({"values": col})
    assert c.decode(c.encode(batch), dtype=str).features["values"].tolist() == rows


@given(st.binary(max_size=60), st.integers(0, 2), st.sampled_from([None, "float32", "int32", str]))
def test_garbage_gives_only_decode_error(data: bytes, label_size: int, dtype: object) -> None:
    try:
        c.decode(data, label_size=label_size, dtype=dtype)
        c.decode_response(data)
    except smp.DecodeError as e:
        assert e.line is not None and e.offset is not None and 0 <= e.offset <= len(data)


@given(
    st.lists(st.sampled_from([b"1", b"-2.5", b"", b"1e3", b"x", b'"a,b"', b"nan", b"3.25"]), max_size=30),
    st.lists(st.sampled_from([b",", b"\n", b"\r\n"]), max_size=30),
)
def test_mutated_csv_gives_only_decode_error(fields: list[bytes], seps: list[bytes]) -> None:
    data = b"".join(f + s for f, s in zip(fields, seps, strict=False))
    try:
        fast = c.decode(data)
    except smp.DecodeError as e:
        with pytest.raises(smp.DecodeError) as again:
            careful(data)
        assert (again.value.line, again.value.offset, again.value.reason) == (e.line, e.offset, e.reason)
    else:
        assert_batches_equal(fast, careful(data))


@pytest.mark.parametrize("stream", [False, True])
def test_iter_decode_errors_keep_absolute_positions(stream: bool) -> None:
    body = b"a,b\n1,2\n\n3,4\n5,6\n7\n"
    whole = error(body, header=True)
    source = io.BytesIO(body) if stream else body
    with pytest.raises(smp.DecodeError) as info:
        list(c.iter_decode(source, batch_size=1, header=True))
    e = info.value
    assert (e.line, e.offset, e.record_index, e.reason) == (
        whole.line,
        whole.offset,
        whole.record_index,
        whole.reason,
    )
    assert (e.line, e.offset, e.record_index) == (6, 18, 3)


def test_iter_decode_stream_in_small_reads() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            out, self.data = self.data[:3], self.data[3:]
            return out

    body = b'\xef\xbb\xbfx,y\n1,"2\n"\n3,4\n'
    got = list(c.iter_decode(Trickle(body), batch_size=1, header=True))
    assert [p.features["values"].tolist() for p in got] == [[["1", "2\n"]], [["3", "4"]]]
    whole = c.decode(body, header=True).features["values"].tolist()
    assert [p.features["values"].tolist() for p in got] == [whole[:1], whole[1:]]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("body", [b'1,"2\n', b'1,2\n3,"4\n', b'1,2\n3,"4\n\n5\n'])
def test_iter_decode_reports_an_unterminated_quote_at_the_end(body: bytes, stream: bool) -> None:
    # Regression: a final record with an open quote that ended in a newline used to be
    # dropped silently by iter_decode, while decode reported it.
    whole = error(body, dtype=str)
    with pytest.raises(smp.DecodeError) as info:
        list(c.iter_decode(io.BytesIO(body) if stream else body, batch_size=1, dtype=str))
    e = info.value
    assert (e.line, e.offset, e.record_index, e.reason) == (
        whole.line,
        whole.offset,
        whole.record_index,
        whole.reason,
    )
    assert e.reason == "unterminated quoted field (no closing '\"')"


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from([b"a", b"1", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b" "]), max_size=60).map(
        b"".join
    ),
    st.integers(1, 4),
    st.booleans(),
)
def test_iter_decode_any_text_matches_decode(body: bytes, batch_size: int, stream: bool) -> None:
    """Quotes, blank lines and CRLFs in any arrangement: the batches concatenate to
    `decode`'s result, or both fail. `decode` tokenizes the whole body before it checks
    widths, while batches are checked one at a time, so the batched error may come from an
    earlier record than the whole one, never a later one. Tiny scan windows make every
    record cross a window edge."""
    with mock.patch.object(_csv_text, "_SCAN_FIRST", 2), mock.patch.object(_csv_text, "_SCAN_MAX", 8):
        try:
            whole = c.decode(body, dtype=str)
        except smp.DecodeError as e:
            with pytest.raises(smp.DecodeError) as info:
                list(c.iter_decode(io.BytesIO(body) if stream else body, batch_size=batch_size, dtype=str))
            got = info.value
            assert got.offset is not None and e.offset is not None
            assert got.offset <= e.offset
            if got.offset == e.offset:
                assert (got.line, got.record_index, got.reason) == (e.line, e.record_index, e.reason)
            return
        parts = list(c.iter_decode(io.BytesIO(body) if stream else body, batch_size=batch_size, dtype=str))
    assert all(len(p) <= batch_size for p in parts)
    assert sum(len(p) for p in parts) == len(whole)
    if parts:
        assert_batches_equal(smp.RecordBatch.concat(parts), whole)


def test_iter_decode_later_text_is_an_error() -> None:
    with pytest.raises(smp.DecodeError) as info:
        list(c.iter_decode(b"1,2\nx,3\n", batch_size=1))
    assert info.value.reason == (
        "column 1: 'x' is not a number (the first batch read these columns as numbers; "
        "pass dtype=str for text)"
    )
    assert (info.value.line, info.value.offset, info.value.record_index) == (2, 4, 1)


def test_fast_kernel_agrees_with_float_on_random_text() -> None:
    """The vectorized reader against Python's float() on many spellings."""
    rng = np.random.default_rng(3)
    vals = rng.standard_normal(20_000) * 10.0 ** rng.integers(-6, 12, 20_000)
    fields = [f"{v:.{int(p)}f}".encode() for v, p in zip(vals, rng.integers(0, 17, vals.size), strict=True)]
    body = b"\n".join(b",".join(fields[i : i + 10]) for i in range(0, len(fields), 10))
    for kernel in (_textnum._C, None):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(_textnum, "_C", kernel)
            out = np.empty((body.count(b"\n") + 1, 10))
            assert _textnum.read_rows(body, 0, len(body), 10, out, 0) == (len(body), out.shape[0])
        assert out.reshape(-1).tolist() == [float(f) for f in fields]


def test_response_bytes_that_are_not_utf8_are_an_encode_error() -> None:
    # Found by fuzzing the serving handler: a UnicodeDecodeError escaped the writer.
    batch = smp.RecordBatch(label={"s": np.array([b"ok", b"\xff"], dtype=object)})
    with pytest.raises(smp.EncodeError) as info:
        c.encode_response(batch)
    assert (info.value.column, info.value.reason) == (
        "label['s']",
        "bytes that are not UTF-8 text (invalid start byte at byte 0)",
    )


# --------------------------------------------------------------------------------------
# Text columns of one width (str_column's fast form)
# --------------------------------------------------------------------------------------


def test_str_column_of_one_width() -> None:
    """Texts of one width become the str array at once; the array is numpy's own (dtype,
    values, a writable contiguous array); anything else takes the general form."""
    texts = ["cat", "dog", "émû", "a😀b"] * 20
    got = c.str_column(texts)
    assert got.dtype == np.dtype("<U3") and got.shape == (80,)
    assert got.tolist() == texts and got.flags.writeable and got.flags.c_contiguous
    assert c._same_width(["a", "bc"] * 40) is None
    assert c._same_width(["abc", "a"] * 40) is None  # the same total as two widths of 2
    empty = c._same_width(["", ""] * 40)  # numpy makes <U1 of empty texts: so does it
    assert empty is not None and empty.dtype == np.dtype("<U1") and empty.tolist() == [""] * 80
    assert c._same_width(["a\0", "bc"] * 40) is None  # numpy drops a trailing NUL
    assert c.str_column(["a\0", "bc"] * 40).tolist() == ["a", "bc"] * 40
    label = c.decode(b"x,1\ny,2\n" * 40, label_size=1).label["values"]
    assert label.dtype == np.dtype("<U1") and label.tolist() == ["x", "y"] * 40


ONE_WIDTH = st.integers(1, 3).flatmap(
    lambda w: st.lists(st.text(alphabet="ab\0é😀", min_size=w, max_size=w), min_size=64, max_size=90)
)


@given(st.lists(st.text(alphabet="ab\0é😀", max_size=3), min_size=64, max_size=90) | ONE_WIDTH)
def test_str_column_is_numpys_array(texts: list[str]) -> None:
    want = np.array(texts, dtype=str)
    got = c.str_column(texts)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    same = c._same_width(texts)
    widths = {len(t) for t in texts}
    assert (same is not None) == (len(widths) == 1 and not any("\0" in t for t in texts))
