"""application/jsonlines: golden cases, line positions, streaming, and properties."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as JL
from sm_payloads.formats import json as J
from sm_payloads.formats import jsonlines as L

from .helpers import assert_batches_equal, record_batches
from .test_json import _dtype_map, _jsonable

CT = "application/jsonlines"


class Trickle(io.RawIOBase):
    """A stream that returns at most `step` bytes per read (like a socket)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.pos = 0
        self.step = step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        n = self.step if n < 0 else min(n, self.step)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


# ======================================================================================
# Golden: the Developer Guide page "Common Data Formats for Inference" (an older version) and
# the algorithms' response pages (docs/formats/jsonlines.md, docs/algorithms.md)
# ======================================================================================


def test_aws_docs_multi_record_lines_rewritten_valid() -> None:
    """The inference formats page, "Multiple records" (its second line lacks a closing brace;
    fixed here), as in docs/formats/jsonlines.md, "Requests": sparse, dense long and dense
    short lines in one body."""
    body = (
        b'{"data": {"features": { "keys": [0, 1, 3], "shape": [4], "values": [1, 4, 1] } } }\n'
        b'{ "data": { "features": { "values": [ 1.5, 16.0, 14.0, 23.0] } } }\n'
        b'{ "features": [1.5, 16.0, 14.0, 23.0] }\n'
    )
    m = L.decode(body).features["values"]
    # A dense record among sparse ones of the same width joins the sparse column.
    assert sp.issparse(m) and m.shape == (3, 4)
    assert m.toarray().tolist() == [[1.0, 4.0, 0.0, 1.0], [1.5, 16.0, 14.0, 23.0], [1.5, 16.0, 14.0, 23.0]]


def test_aws_docs_verbatim_missing_brace_names_the_line() -> None:
    """The inference formats page prints
    `{ "data": { "features": { "values": [ 1.5, 16.0, 14.0, 23.0] } }`."""
    first = b'{"data": {"features": { "keys": [0, 1, 3], "shape": [4], "values": [1, 4, 1] } } }\n'
    body = (
        first + b'{ "data": { "features": { "values": [ 1.5, 16.0, 14.0, 23.0] } }\n{ "features": [1.5] }\n'
    )
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(body)
    e = ei.value
    assert (e.line, e.record_index, e.content_type) == (2, 1, CT)
    assert e.reason == "invalid JSON: unexpected end of data"
    assert e.offset == len(first) + len(b'{ "data": { "features": { "values": [ 1.5, 16.0, 14.0, 23.0] } }')
    assert str(e).endswith(f"at line 2 (byte {e.offset}, record 1)")


def test_aws_docs_single_sparse_and_dense_lines() -> None:
    """The inference formats page: the single-record sparse and dense JSON Lines forms."""
    sparse = L.decode(
        b'{"data": {"features": { "keys": [26, 182, 232, 243, 431], "shape": [2000], "values": [1, 1, 1, 4, 1] } } }'  # noqa: E501
    )
    assert sparse.features["values"].indices.tolist() == [26, 182, 232, 243, 431]
    assert L.decode(b'{ "features": [1.5, 16.0, 14.0, 23.0] }').to_numpy().tolist() == [
        [1.5, 16.0, 14.0, 23.0]
    ]


def test_aws_docs_kmeans_jsonlines_response() -> None:
    """The inference formats page: the k-means JSON Lines response for two inputs."""
    body = (
        b'{"distance_to_cluster": 23.40593910217285, "closest_cluster": 0.0}\n'
        b'{"distance_to_cluster": 27.250282287597656, "closest_cluster": 0.0}'
    )
    b = L.decode_response(body)
    assert list(b.label) == ["distance_to_cluster", "closest_cluster"]
    assert b.label["distance_to_cluster"].tolist() == [23.40593910217285, 27.250282287597656]
    assert b.label["closest_cluster"].tolist() == [0.0, 0.0]
    # These are float32 values widened (docs/formats/json.md, "How AWS prints numbers"): as
    # float32 we write them shortest.
    as32 = L.decode_response(body, dtype="float32")
    assert L.encode_response(as32) == (
        b'{"distance_to_cluster":23.40594,"closest_cluster":0.0}\n'
        b'{"distance_to_cluster":27.250282,"closest_cluster":0.0}\n'
    )
    assert L.decode_response(L.encode_response(as32), dtype="float32") == as32


def test_formats_4_10_object2vec_jsonlines() -> None:
    """docs/object2vec.md: Object2Vec JSON Lines request and response (15-digit scores)."""
    req = L.decode(
        b'{"in0": [6, 17, 606], "in1": [16, 21, 13, 45]}\n{"in0": [774, 14, 21, 206], "in1": [21, 366, 125]}\n',  # noqa: E501
        dtype={"in0": "int32", "in1": "int32"},
    )
    assert req.features["in0"].to_lists() == [[6, 17, 606], [774, 14, 21, 206]]
    resp = L.decode_response(
        b'{"scores":[0.195667684078216,0.395351558923721,0.408980727195739]}\n'
        b'{"scores":[0.251988261938095,0.258233487606048,0.489778339862823]}\n'
        b'{"scores":[0.280087798833847,0.368331134319305,0.351581096649169]}\n'
    )
    assert resp.label["scores"].shape == (3, 3)
    assert resp.label["scores"][0].tolist() == [0.195667684078216, 0.395351558923721, 0.408980727195739]


def test_formats_6_5_xgboost_jsonlines() -> None:
    """XGBoost JSON Lines, each line json.dumps + newline (docs/formats/jsonlines.md, "Lines";
    docs/autopilot.md)."""
    body = b'{"predicted_label": 1, "probabilities": [0.4, 0.6]}\n{"predicted_label": 0, "probabilities": [0.9, 0.1]}\n'  # noqa: E501
    b = L.decode_response(body)
    assert b.label["predicted_label"].tolist() == [1.0, 0.0]
    assert b.label["probabilities"].tolist() == [[0.4, 0.6], [0.9, 0.1]]
    assert L.encode_response(b) == (
        b'{"predicted_label":1.0,"probabilities":[0.4,0.6]}\n{"predicted_label":0.0,"probabilities":[0.9,0.1]}\n'
    )


def test_formats_4_2_pca_and_4_8_rcf_lines() -> None:
    """docs/formats/jsonlines.md, "Responses" (PCA, Random Cut Forest): per-item objects, no
    envelope."""
    assert L.decode_response(b'{"projection": [1.0, 2.0, 3.0, 4.0, 5.0]}\n').label["projection"].tolist() == [
        [1.0, 2.0, 3.0, 4.0, 5.0]
    ]
    assert L.decode_response(b'{"score": 0.02}\n{"score": 0.25}\n').label["score"].tolist() == [0.02, 0.25]
    # The RCF doc page puts a trailing comma on each line: not JSON Lines.
    with pytest.raises(smp.DecodeError) as ei:
        L.decode_response(b'{"score": 0.02},\n{"score": 0.25},\n')
    assert (ei.value.line, ei.value.offset, ei.value.record_index) == (1, 15, 0)


# ======================================================================================
# Lines: endings, blank lines, BOM, positions
# ======================================================================================


@pytest.mark.parametrize(
    "body",
    [
        b'{"features": [1, 2]}\n{"features": [3, 4]}\n',
        b'{"features": [1, 2]}\n{"features": [3, 4]}',
        b'{"features": [1, 2]}\r\n{"features": [3, 4]}\r\n',
        b'\n\n{"features": [1, 2]}\n   \n\t\n{"features": [3, 4]}\n\n',
        b'\xef\xbb\xbf{"features": [1, 2]}\n{"features": [3, 4]}',
        b'  {"features": [1, 2]}  \n{"data": {"features": {"values": [3, 4]}}}',
        b"[1, 2]\n[3, 4]\n",
    ],
)
def test_line_variants_decode_alike(body: bytes) -> None:
    b = L.decode(body)
    assert b.to_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    for batch_size in (1, 2, 5):
        got = list(L.iter_decode(io.BytesIO(body), batch_size=batch_size, block_size=7))
        assert smp.RecordBatch.concat(got) == b


def test_empty_and_blank_bodies_are_empty_batches() -> None:
    for body in (b"", b"\n", b"\r\n \n", b"\xef\xbb\xbf"):
        assert len(L.decode(body)) == 0
        assert list(L.iter_decode(io.BytesIO(body), batch_size=3)) == []


def test_a_record_does_not_span_lines_through_an_empty_list() -> None:
    """A newline inside a record's number list ends the line: the record is cut short (an
    error at line 2), never read as an empty list joined to the next line."""
    body = b'{"features":[1]}\n{"features":[\n]}\n{"features":[2]}\n'
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(body)
    assert (ei.value.line, ei.value.offset, ei.value.record_index) == (2, 30, 1)
    for body in (b'{"features":[\x0b]}\n', b'{"features":[\x0c]}\n'):
        with pytest.raises(smp.DecodeError) as ei:
            L.decode(body)
        assert (ei.value.line, ei.value.offset) == (1, 13)
    assert L.decode(b'{"features":[1]}\n{"features":[ \t\r]}\n').features["values"].lengths.tolist() == [1, 0]


def test_errors_name_line_offset_and_record_in_any_block() -> None:
    lines = [b'{"features": [%d]}' % i for i in range(50)]
    lines[37] = b'{"features": [1, oops]}'
    lines.insert(10, b"")  # a blank line: counts as a line, not as a record
    body = b"\n".join(lines) + b"\n"
    expect_offset = body.index(b"oops")
    for source in (body, io.BytesIO(body), Trickle(body, 5)):
        for block in (4, 64, 1 << 20):
            with pytest.raises(smp.DecodeError) as ei:
                for _ in L.iter_decode(
                    source if not hasattr(source, "seek") else io.BytesIO(body),
                    batch_size=3,
                    block_size=block,
                ):
                    pass
            e = ei.value
            assert (e.line, e.record_index, e.offset) == (39, 37, expect_offset), (source, block)
            assert e.reason == "invalid JSON: unexpected character, expected a JSON value"
            if isinstance(source, Trickle):
                source = Trickle(body, 5)
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(body)
    assert (ei.value.line, ei.value.record_index, ei.value.offset) == (39, 37, expect_offset)


def test_grammar_errors_point_at_the_line() -> None:
    body = b'{"features": [1]}\n  {"features": {"keys": [1], "values": [2]}}\n'
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(body)
    e = ei.value
    assert e.reason == "$.features: a sparse tensor (with keys) needs a shape"
    assert (e.line, e.offset, e.record_index) == (2, body.index(b'{"keys"'), 1)


def test_dtype_errors_point_at_the_line_on_the_fast_path() -> None:
    body = b'{"features": [1]}\n{"features": [2]}\n\n{"features": [2.5]}\n'
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(body, dtype="int32")
    e = ei.value
    assert e.reason == "features['values']: value 2.5 is not an int32 (dtype=int32)"
    assert (e.line, e.offset, e.record_index) == (4, body.index(b'{"features": [2.5]'), 2)


def test_a_value_may_not_span_lines() -> None:
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(b'{"features": [1,\n2]}\n')
    assert ei.value.line == 1 and ei.value.record_index == 0


def test_two_values_on_one_line_are_an_error() -> None:
    with pytest.raises(smp.DecodeError) as ei:
        L.decode(b'{"features": [1]} {"features": [2]}\n')
    assert ei.value.reason == "invalid JSON: unexpected content after document"
    assert (ei.value.line, ei.value.offset) == (1, 18)


def test_nan_on_lines() -> None:
    body = b'{"score": NaN}\n{"score": -Infinity}\n'
    with pytest.raises(smp.DecodeError) as ei:
        L.decode_response(body)
    assert ei.value.line == 1 and "allow_nan=True" in ei.value.reason
    b = L.decode_response(body, allow_nan=True)
    assert np.isnan(b.label["score"][0]) and b.label["score"][1] == -np.inf
    assert L.encode_response(b, allow_nan=True) == b'{"score":NaN}\n{"score":-Infinity}\n'
    with pytest.raises(smp.EncodeError) as ee:
        L.encode_response(b)
    assert ee.value.column == "label['score']"


def test_strings_travel_through_lines() -> None:
    labels = _obj([["cat", "dog"], ["cat", "dog"]])
    b = smp.RecordBatch(label={"predicted_label": np.array(["cat", "dog"]), "labels": labels})
    body = L.encode_response(b)
    assert (
        body
        == b'{"predicted_label":"cat","labels":["cat","dog"]}\n{"predicted_label":"dog","labels":["cat","dog"]}\n'  # noqa: E501
    )
    assert L.decode_response(body) == b


def _obj(rows: list) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


@pytest.mark.parametrize("first", [[[], None], [[], []]], ids=["ragged", "dense"])
def test_empty_lists_in_a_batch_of_their_own_join_later_text(first: list) -> None:
    """``[]`` says nothing of its type: in a batch without text it reads as an empty
    (ragged or dense) row, and joined to a later batch of text it becomes an empty list of
    strings, as `decode` reads the body whole (a record without the key stays None)."""
    written = smp.RecordBatch({"s": _obj([*first, ["a"]]), "x": np.zeros((3, 1))})
    body = L.encode(written)
    assert body.splitlines()[:2] == [
        b'{"s":[],"x":[0.0]}',
        b'{"x":[0.0]}' if first[1] is None else b'{"s":[],"x":[0.0]}',
    ]
    parts = list(L.iter_decode(body, batch_size=2))
    assert smp.record.column_info(parts[0].features["s"])[0] == ("ragged" if first[1] is None else "dense")
    joined = smp.RecordBatch.concat(parts)
    assert joined.features["s"].tolist() == [*first, ["a"]]
    assert joined == written == L.decode(body)


def test_codec_class_aliases_and_params() -> None:
    codec = L.JsonLinesCodec.from_params({"charset": "utf-8", "verbose": "True"})
    assert codec.content_type == CT and codec.aliases == ("application/x-jsonlines",)
    batch = smp.from_dense(np.array([[1.0, 2.0]], np.float32))
    body = codec.encode(batch)
    assert codec.with_options(dtype="float32").decode(body) == batch
    assert [len(b) for b in codec.iter_decode(body * 3, batch_size=2)] == [2, 1]
    assert codec.encode_response(smp.RecordBatch(label={"s": np.array([1.5])})) == b'{"s":1.5}\n'
    with pytest.raises(TypeError) as e:
        L.JsonLinesCodec.from_params({}, envelope="scores")  # JSON Lines has no envelope
    assert (
        str(e.value) == "application/jsonlines has no option 'envelope' (options: allow_nan, dtype, layout)"
    )
    with pytest.raises(smp.UnsupportedMediaTypeError):
        L.JsonLinesCodec.from_params({"charset": "utf-16"})
    with pytest.raises(ValueError, match="batch_size"):
        L.iter_decode(body, batch_size=0)


# ======================================================================================
# The SDK as an oracle
# ======================================================================================


@pytest.mark.sdk
def test_sdk_jsonlines_deserializer_reads_what_we_write() -> None:
    deser = pytest.importorskip("sagemaker.base_deserializers")
    X = np.array([[0.1, 1e-45, 3.4028235e38], [-0.0, 16777216.0, 1.5]], np.float32)
    body = L.encode(smp.from_dense(X))
    got = deser.JSONLinesDeserializer().deserialize(io.BytesIO(body), CT)
    assert np.array([r["features"] for r in got], np.float32).tobytes() == X.tobytes()


@pytest.mark.sdk
def test_we_read_what_the_sdk_writes() -> None:
    ser = pytest.importorskip("sagemaker.base_serializers")
    rows = [{"features": [1.5, 16.0, 14.0, 23.0]}, {"features": [-2.0, 100.2, 15.2, 9.2]}]
    body = ser.JSONLinesSerializer().serialize(rows).encode()
    assert L.decode(body).to_numpy().tolist() == [r["features"] for r in rows]
    X = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    sdk_json = ser.JSONSerializer().serialize(X).encode()  # json.dumps(X.tolist()): a bare list
    assert J.decode(sdk_json).to_numpy().tolist() == X.astype(np.float64).tolist()


# ======================================================================================
# Properties
# ======================================================================================


@given(
    record_batches(kinds=("dense", "sparse", "ragged", "strings")),
    st.sampled_from(["dense", "protobuf", None]),
)
def test_roundtrip(batch: smp.RecordBatch, layout: JL.Layout | None) -> None:
    _jsonable(batch)
    if layout == "dense":
        assume(
            all(
                smp.record.column_info(c)[0] != "sparse"
                for m in (batch.features, batch.label)
                for c in m.values()
            )
        )
    dtypes = _dtype_map(batch)
    body = L.encode(batch, layout=layout, allow_nan=True)
    assert body.count(b"\n") == len(batch) and (not body or body.endswith(b"\n"))
    assert L.decode(body, dtype=dtypes, allow_nan=True) == batch


@given(
    record_batches(kinds=("dense", "sparse", "ragged", "strings"), max_records=9),
    st.integers(1, 5),
    st.integers(1, 64),
    st.sampled_from(["\n", "\r\n", "\n\n"]),
    st.booleans(),
)
def test_iter_decode_chunked_equals_whole(
    batch: smp.RecordBatch, batch_size: int, block_size: int, newline: str, response: bool
) -> None:
    _jsonable(batch)
    # A batch whose strings column holds only empty lists reads as numbers (nothing on the
    # wire says text): keep empty lists out of the strings columns here.
    for m in (batch.features, batch.label):
        for c in m.values():
            if smp.record.column_info(c)[0] == "strings":
                assume(all(v != [] for v in c.tolist()))
    dtypes = _dtype_map(batch)
    body = L.encode_response(batch, allow_nan=True) if response else L.encode(batch, allow_nan=True)
    body = body.replace(b"\n", newline.encode())
    decode = L.decode_response if response else L.decode
    try:
        whole = decode(body, dtype=dtypes, allow_nan=True)
    except smp.DecodeError:
        assume(False)
    for source in (body, io.BytesIO(body), Trickle(body, 3)):
        parts = list(
            L.iter_decode(
                source,
                batch_size=batch_size,
                dtype=dtypes,
                allow_nan=True,
                response=response,
                block_size=block_size,
            )
        )
        assert all(len(p) == batch_size for p in parts[:-1]) and all(len(p) for p in parts)
        assert sum(len(p) for p in parts) == len(whole)
        if parts:
            assert smp.RecordBatch.concat(parts) == whole


@given(st.binary(max_size=200), st.integers(1, 16))
def test_garbage_gives_only_decode_errors(data: bytes, block: int) -> None:
    for response in (False, True):
        for allow_nan in (False, True):
            try:
                for _ in L.iter_decode(
                    io.BytesIO(data), batch_size=2, response=response, allow_nan=allow_nan, block_size=block
                ):
                    pass
            except smp.DecodeError as e:
                assert e.offset is None or 0 <= e.offset <= len(data)
                assert e.line is not None and e.line >= 1


@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53), max_size=4),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["\n", "\r\n"]),
    st.integers(8, 200),
)
def test_fast_path_equals_general_path(rows: list, ws: str, nl: str, block: int) -> None:
    body = nl.join(
        f'{{{ws}"features"{ws}:{ws}[{ws}{", ".join(json.dumps(v) for v in r)}{ws}]{ws}}}' for r in rows
    )
    raw = body.encode()
    assert L._scan_block(raw, 0, 0, 1, False) is not None
    general = JL.batch_from_groups(
        [JL.GeneralGroup([JL.instance_record(json.loads(line), "$") for line in body.split(nl)])], CT, None
    )
    assert_batches_equal(L.decode(raw), general)
    assert_batches_equal(
        smp.RecordBatch.concat(list(L.iter_decode(raw, batch_size=5, block_size=block))), general
    )


def test_sparse_shape_wider_than_int64_is_a_decode_error() -> None:
    # Found by fuzzing: scipy raised OverflowError for a width of 2**64 - 1.
    body = b'{"features":{"values":[1],"keys":[0],"shape":[18446744073709551615]}}\n'
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/jsonlines")
    assert (info.value.line, info.value.record_index) == (1, 0)
    assert info.value.reason == (
        "features['values']: sparse shape [18446744073709551615] has 18446744073709551615 elements, "
        "more than 2**63 - 1"
    )


# --------------------------------------------------------------------------------------
# The block size never changes the answer: tensor objects of values alone beside sparse
# records of another block
# --------------------------------------------------------------------------------------


def _outcome(body: bytes, **kw: int) -> object:
    try:
        b = L.decode(body, **kw)
    except smp.DecodeError as e:
        return (str(e), e.offset, e.record_index, e.line)
    return b


def test_a_tensor_object_of_values_fits_a_sparse_shape_of_another_block() -> None:
    body = b'{"a": {"values": [1, 2, 3, 4]}}\n{"a": {"keys": [3], "shape": [2, 2], "values": [1]}}\n'
    for block in (None, 7, 40):
        got = L.decode(body) if block is None else L.decode(body, block_size=block)
        a = got.features["a"]
        assert a.shape == (2, 2)
        assert a.matrix.toarray().tolist() == [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 1.0]]
    # a plain list has the shape (4,): it does not fit, at any block size
    plain = b'{"a": [1, 2, 3, 4]}\n{"a": {"keys": [3], "shape": [2, 2], "values": [1]}}\n'
    for block in (None, 7, 40):
        with pytest.raises(smp.DecodeError) as info:
            L.decode(plain) if block is None else L.decode(plain, block_size=block)
        assert str(info.value) == (
            "application/jsonlines: features['a']: dense record that does not fit the sparse shape"
            " (a RecordBatch column holds one kind of value) at line 1 (byte 0, record 0)"
        )


_mixed_lines = st.sampled_from(
    [
        b'{"a": {"values": [1, 2, 3, 4]}}',
        b'{"a": [1, 2, 3, 4]}',
        b'{"a": {"keys": [3], "shape": [2, 2], "values": [1]}}',
        b'{"a": {"keys": [0, 2], "shape": [4], "values": [1, 5]}}',
        b'{"a": {"values": [1, 2]}}',
        b'{"a": {"values": [[1, 2], [3, 4]]}}',
        b'{"a": []}',
        b"",
    ]
)


@given(st.lists(_mixed_lines, min_size=1, max_size=6), st.integers(1, 120))
def test_the_block_size_never_changes_the_answer(lines: list[bytes], block: int) -> None:
    body = b"\n".join(lines) + b"\n"
    want = _outcome(body)
    got = _outcome(body, block_size=block)
    if isinstance(want, smp.RecordBatch):
        assert isinstance(got, smp.RecordBatch), got
        assert got.equals(want, bitwise=True)
    else:
        assert got == want
