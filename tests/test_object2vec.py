"""Object2Vec request/response codec: the AWS pages' golden payloads, exact errors, properties."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import object2vec as o2v

JSON = "application/json"
JSONL = "application/jsonlines"
INT32_MAX = 2**31 - 1

# --------------------------------------------------------------------------------------
# The payloads of the Developer Guide page "Data Formats for Object2Vec Inference", as two
# renderings of the page print them (docs/object2vec.md, "The AWS example payloads")
# --------------------------------------------------------------------------------------

AWS_IN0 = [
    [6, 17, 606, 19, 53, 67, 52, 12, 5, 10, 15, 10178, 7, 33, 652, 80, 15, 69, 821, 4],
    [22, 1016, 32, 13, 25, 11, 5, 64, 573, 45, 5, 80, 15, 67, 21, 7, 9, 107, 4],
    [774, 14, 21, 206],
]
AWS_IN1 = [[16, 21, 13, 45, 14, 9, 80, 59, 164, 4], [22, 32, 13, 25, 1016, 573, 3252, 4], [21, 366, 125]]

#: The page's "Input: Classification or Regression Request Format", application/json, verbatim.
AWS_JSON_REQUEST = (
    b'{ "instances" : [ {"in0": [6, 17, 606, 19, 53, 67, 52, 12, 5, 10, 15, 10178, 7, 33, 652, 80, '
    b'15, 69, 821, 4], "in1": [16, 21, 13, 45, 14, 9, 80, 59, 164, 4]}, {"in0": [22, 1016, 32, 13, '
    b'25, 11, 5, 64, 573, 45, 5, 80, 15, 67, 21, 7, 9, 107, 4], "in1": [22, 32, 13, 25, 1016, 573, '
    b'3252, 4]}, {"in0": [774, 14, 21, 206], "in1": [21, 366, 125]} ] }'
)
#: The same request as another rendering of the page prints it (line breaks kept), verbatim.
AWS_JSON_REQUEST_WRAPPED = (
    b'{\n"instances" : [\n{"in0": [6, 17, 606, 19, 53, 67, 52, 12, 5, 10, 15, 10178, 7, 33, 652, 80, '
    b'15, 69, 821, 4], "in1": [16, 21, 13, 45, 14, 9, 80, 59, 164, 4]},\n{"in0": [22, 1016, 32, 13, '
    b'25, 11, 5, 64, 573, 45, 5, 80, 15, 67, 21, 7, 9, 107, 4], "in1": [22, 32, 13, 25, 1016, 573, '
    b'3252, 4]},\n{"in0": [774, 14, 21, 206], "in1": [21, 366, 125]}\n]\n}'
)
#: The page's application/jsonlines request, verbatim (one instance per line).
AWS_JSONL_REQUEST = (
    b'{"in0": [6, 17, 606, 19, 53, 67, 52, 12, 5, 10, 15, 10178, 7, 33, 652, 80, 15, 69, 821, 4], '
    b'"in1": [16, 21, 13, 45, 14, 9, 80, 59, 164, 4]}\n'
    b'{"in0": [22, 1016, 32, 13, 25, 11, 5, 64, 573, 45, 5, 80, 15, 67, 21, 7, 9, 107, 4], '
    b'"in1": [22, 32, 13, 25, 1016, 573, 3252, 4]}\n'
    b'{"in0": [774, 14, 21, 206], "in1": [21, 366, 125]}'
)
#: The page's "Accept: application/json" answer (two items for three instances: a slip of the page).
AWS_JSON_RESPONSE = (
    b'{ "predictions": [ { "scores": [ 0.6533935070037842, 0.07582679390907288, 0.2707797586917877 ] }, '
    b'{ "scores": [ 0.026291321963071823, 0.6577019095420837, 0.31600672006607056 ] } ] }'
)
AWS_JSON_SCORES = [
    [0.6533935070037842, 0.07582679390907288, 0.2707797586917877],
    [0.026291321963071823, 0.6577019095420837, 0.31600672006607056],
]
#: The page's "Accept: application/jsonlines" answer, verbatim.
AWS_JSONL_RESPONSE = (
    b'{"scores":[0.195667684078216,0.395351558923721,0.408980727195739]}\n'
    b'{"scores":[0.251988261938095,0.258233487606048,0.489778339862823]}\n'
    b'{"scores":[0.280087798833847,0.368331134319305,0.351581096649169]}'
)
AWS_JSONL_SCORES = [
    [0.195667684078216, 0.395351558923721, 0.408980727195739],
    [0.251988261938095, 0.258233487606048, 0.489778339862823],
    [0.280087798833847, 0.368331134319305, 0.351581096649169],
]
#: The embedding request of the Developer Guide page "Encoder Embeddings for Object2Vec".
EMB_REQUEST = (
    b'{"instances": [{"in0": [6, 17, 606, 19, 53, 67, 52, 12, 5, 10, 15, 10178, 7, 33, 652, 80, 15, '
    b'69, 821, 4]}, {"in0": [22, 1016, 32, 13, 25, 11, 5, 64, 573, 45, 5, 80, 15, 67, 21, 7, 9, 107, '
    b'4]}, {"in0": [774, 14, 21, 206]}]}'
)
EMB_VALUES = [
    [0.057368703186511, 0.030703511089086, 0.099890425801277, 0.063688032329082, 0.026327300816774,
     0.003637571120634, 0.021305780857801, 0.004316598642617, 0.0, 0.003397724591195, 0.0,
     0.000378780066967, 0.0, 0.0, 0.0, 0.007419463712722],
    [0.150190666317939, 0.05145975202322, 0.098204270005226, 0.064249359071254, 0.056249320507049,
     0.01513972133398, 0.047553978860378, 0.0, 0.0, 0.011533712036907, 0.011472506448626,
     0.010696629062294, 0.0, 0.0, 0.0, 0.008508535102009],
]  # fmt: skip
EMB_RESPONSE = json.dumps({"predictions": [{"embeddings": v} for v in EMB_VALUES]}).encode()


def test_aws_docs_json_request_decodes_to_its_token_ids() -> None:
    for body in (AWS_JSON_REQUEST, AWS_JSON_REQUEST_WRAPPED):
        batch = o2v.decode(body, JSON)
        assert len(batch) == 3 and list(batch.features) == ["in0", "in1"]
        for key, want in (("in0", AWS_IN0), ("in1", AWS_IN1)):
            col = batch.features[key]
            assert isinstance(col, smp.Ragged)
            assert col.dtype == np.int32
            assert col.valid is None
            assert col.to_lists() == want
        assert not batch.label


def test_aws_docs_jsonlines_request_decodes_to_its_token_ids() -> None:
    for body in (
        AWS_JSONL_REQUEST,
        AWS_JSONL_REQUEST + b"\n",
        AWS_JSONL_REQUEST.replace(b"\n", b"\r\n\n"),
    ):
        batch = o2v.decode(body, JSONL)
        assert batch.features["in0"].to_lists() == AWS_IN0
        assert batch.features["in1"].to_lists() == AWS_IN1
        assert batch.features["in1"].dtype == np.int32
    assert o2v.decode(AWS_JSONL_REQUEST, "application/x-jsonlines") == o2v.decode(AWS_JSONL_REQUEST, JSONL)


def test_formats_embedding_request_with_infer_max_seqlens() -> None:
    """The page "Encoder Embeddings for Object2Vec": ``Content-Type: application/json;
    infer_max_seqlens=<FWD>,<BCK>`` (docs/object2vec.md, "infer_max_seqlens")."""
    ct = "application/json; infer_max_seqlens=20,19"
    assert o2v.parse_content_type(ct) == o2v.RequestType(JSON, (20, 19))
    batch = o2v.decode(EMB_REQUEST, ct)
    assert list(batch.features) == ["in0"]  # no record has in1: the column is absent
    assert batch.features["in0"].to_lists() == AWS_IN0


def test_in1_only_embedding_request() -> None:
    """AWS's movie-recommendation notebook sends ``{"in1": [s_id]}`` to embed with encoder 1
    (docs/object2vec.md)."""
    batch = o2v.decode(b'{"instances": [{"in1": [42]}, {"in1": [7]}]}')
    assert list(batch.features) == ["in1"]
    assert batch.features["in1"].to_lists() == [[42], [7]]


def test_missing_side_is_visible_not_an_empty_list() -> None:
    batch = o2v.decode(b'{"in0": [1, 2], "in1": []}\n{"in1": [3]}\n{"in0": [4]}\n', JSONL)
    in0, in1 = batch.features["in0"], batch.features["in1"]
    assert in0.to_lists() == [[1, 2], None, [4]]
    assert in1.to_lists() == [[], [3], None]
    assert in0.valid.tolist() == [True, False, True]
    assert in1.valid.tolist() == [True, True, False]
    assert in1[0].tolist() == [] and in1[2] is None


def test_aws_docs_json_response_decodes_to_its_scores() -> None:
    batch = o2v.decode_response(AWS_JSON_RESPONSE, JSON)
    assert list(batch.label) == ["scores"]
    assert batch.label["scores"].dtype == np.float64
    assert batch.label["scores"].tolist() == AWS_JSON_SCORES
    f32 = o2v.decode_response(AWS_JSON_RESPONSE, JSON, dtype="schema").label["scores"]
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, np.array(AWS_JSON_SCORES, np.float32))
    # every one of these is an exact float32 (docs/object2vec.md, "Responses")
    assert (f32.astype(np.float64) == np.array(AWS_JSON_SCORES)).all()


def test_aws_docs_jsonlines_response_decodes_to_its_scores() -> None:
    batch = o2v.decode_response(AWS_JSONL_RESPONSE, JSONL)
    assert batch.label["scores"].tolist() == AWS_JSONL_SCORES
    assert batch.label["scores"].shape == (3, 3)


def test_formats_embedding_response_decodes_to_its_values() -> None:
    for body, ct in (
        (EMB_RESPONSE, JSON),
        (b"".join(json.dumps({"embeddings": v}).encode() + b"\n" for v in EMB_VALUES), JSONL),
    ):
        batch = o2v.decode_response(body, ct)
        assert list(batch.label) == ["embeddings"]
        assert batch.label["embeddings"].shape == (2, 16)
        assert batch.label["embeddings"].tolist() == EMB_VALUES


def test_our_response_spells_the_seed_json_numbers_exactly() -> None:
    """The JSON example prints float32 values widened to float64 with the shortest repr;
    our encoder writes those same digits (and Python json's separators)."""
    scores = np.array(AWS_JSON_SCORES, np.float32)
    body = o2v.encode_response(smp.RecordBatch(label={"scores": scores}), JSON)
    assert body == (
        b'{"predictions": [{"scores": [0.6533935070037842, 0.07582679390907288, 0.2707797586917877]}, '
        b'{"scores": [0.026291321963071823, 0.6577019095420837, 0.31600672006607056]}]}'
    )
    assert re.findall(rb"[0-9.]+e?-?[0-9]*", body) == re.findall(rb"[0-9.]+e?-?[0-9]*", AWS_JSON_RESPONSE)
    assert body == smp.algorithms.encode_response(
        smp.RecordBatch(label={"scores": scores}), JSON, "object2vec"
    )


def test_aws_docs_jsonlines_scores_are_float32_truncated_to_15_digits() -> None:
    """The JSON Lines example's numbers are float32 values truncated to 15 significant
    digits (docs/object2vec.md, "Responses"); read as float32 they are the same values, and our encoder
    writes the shortest float32 spelling, which reads back to the same float32."""
    f32 = o2v.decode_response(AWS_JSONL_RESPONSE, JSONL, dtype="schema").label["scores"]
    assert f32[0, 0].item() == 0.19566768407821655
    body = o2v.encode_response(smp.RecordBatch(label={"scores": f32}), JSONL)
    assert body.splitlines()[0] == b'{"scores":[0.19566768407821655,0.3953515589237213,0.40898072719573975]}'
    back = o2v.decode_response(body, JSONL, dtype="schema").label["scores"]
    np.testing.assert_array_equal(back, f32)
    assert body.endswith(b"\n") and body.count(b"\n") == 3


def test_embedding_response_encode_round_trip() -> None:
    emb = np.array(EMB_VALUES, np.float32)
    for ct in (JSON, JSONL):
        body = o2v.encode_response(smp.RecordBatch(label={"embeddings": emb}), ct)
        np.testing.assert_array_equal(o2v.decode_response(body, ct, dtype="schema").label["embeddings"], emb)
    assert o2v.encode_response(smp.RecordBatch(label={"embeddings": emb[:1, :2]}), JSONL) == (
        b'{"embeddings":[0.05736870318651199,0.030703511089086533]}\n'
    )


def test_regression_response_is_one_score() -> None:
    body = o2v.encode_response(smp.RecordBatch(label={"scores": np.array([[2.5], [-1.0]], np.float32)}), JSON)
    assert body == b'{"predictions": [{"scores": [2.5]}, {"scores": [-1.0]}]}'
    assert o2v.decode_response(body, JSON).label["scores"].tolist() == [[2.5], [-1.0]]


def test_response_errors_come_from_the_algorithm_schema() -> None:
    with pytest.raises(smp.NotAcceptableError):
        o2v.encode_response(smp.RecordBatch(label={"scores": np.ones((1, 2), np.float32)}), "text/csv")
    with pytest.raises(smp.EncodeError) as e:
        o2v.encode_response(smp.RecordBatch(label={"score": np.ones((1, 2), np.float32)}), JSON)
    assert e.value.column == "label['scores']"
    with pytest.raises(smp.DecodeError) as d:
        o2v.decode_response(b'{"predictions": [{"scores": [0.5]}, {"scores": [0.5, 0.2]}]}', JSON)
    assert d.value.record_index == 1
    with pytest.raises(smp.DecodeError) as m:  # scores and embeddings never share a response
        o2v.decode_response(b'{"scores":[0.5]}\n{"embeddings":[0.5]}\n', JSONL)
    assert m.value.record_index == 1


# --------------------------------------------------------------------------------------
# Writing requests
# --------------------------------------------------------------------------------------


def _instances(in0: list[list[int] | None], in1: list[list[int] | None]) -> list[dict[str, list[int]]]:
    out = []
    for a, b in zip(in0, in1, strict=True):
        d = {}
        if a is not None:
            d["in0"] = a
        if b is not None:
            d["in1"] = b
        out.append(d)
    return out


def test_encode_writes_the_sdk_json_serializer_bytes() -> None:
    from sagemaker.serializers import JSONLinesSerializer, JSONSerializer

    objs = _instances(AWS_IN0, AWS_IN1)
    batch = o2v.decode(AWS_JSON_REQUEST)
    assert o2v.encode(batch, JSON) == JSONSerializer().serialize({"instances": objs}).encode()
    assert o2v.encode(objs, JSON) == json.dumps({"instances": objs}).encode()
    # the SDK's JSON Lines writer has no final newline; ours ends every line
    assert o2v.encode(batch, JSONL) == JSONLinesSerializer().serialize(objs).encode() + b"\n"
    assert o2v.encode(batch, JSONL) == AWS_JSONL_REQUEST + b"\n"
    assert (
        o2v.encode(batch, JSONL, compact=True).splitlines()[2]
        == b'{"in0":[774,14,21,206],"in1":[21,366,125]}'
    )


def test_encode_dense_columns_and_missing_sides() -> None:
    batch = smp.RecordBatch(
        {
            "in0": np.array([[1, 2], [3, 4]], np.int32),
            "in1": smp.Ragged.from_lists([None, [5]], dtype="int32"),
        }
    )
    assert o2v.encode(batch) == b'{"instances": [{"in0": [1, 2]}, {"in0": [3, 4], "in1": [5]}]}'


def test_encode_writes_in0_first_and_only_the_inputs() -> None:
    batch = smp.RecordBatch(
        {"in1": smp.Ragged.from_lists([[5], None], dtype="int64"), "in0": np.array([[1], [2]], np.uint16)},
        uid=["a", "b"],
    )
    assert o2v.encode(batch) == b'{"instances": [{"in0": [1], "in1": [5]}, {"in0": [2]}]}'
    assert o2v.encode(batch, JSONL, compact=True) == b'{"in0":[1],"in1":[5]}\n{"in0":[2]}\n'


def test_requests_are_the_registry_codecs_dense_layout() -> None:
    # Object2Vec writes its instances itself (faster for short token lists); the bytes are
    # those of the generic codecs' dense layout
    batch = o2v.decode(AWS_JSON_REQUEST)
    for ct in (JSON, JSONL):
        assert o2v.encode(batch, ct, compact=True) == smp.get_codec(ct, layout="dense").encode(batch)


def test_encode_errors() -> None:
    with pytest.raises(smp.EncodeError) as e:
        o2v.encode(smp.RecordBatch({"in0": smp.Ragged.from_lists([[1.5]], dtype="float32")}))
    assert e.value.column == "features['in0']"
    with pytest.raises(smp.EncodeError, match=r"token id -1 \(record 1\)"):
        o2v.encode(smp.RecordBatch({"in0": smp.Ragged.from_lists([[1], [2, -1]], dtype="int32")}))
    with pytest.raises(smp.EncodeError, match="record 0 has neither in0 nor in1"):
        o2v.encode(smp.RecordBatch({"in0": smp.Ragged.from_lists([None, [2]], dtype="int32")}))
    with pytest.raises(smp.EncodeError) as e2:
        o2v.encode(smp.RecordBatch({"values": np.ones((1, 2), np.int32)}))
    assert e2.value.column == "features['values']"
    with pytest.raises(smp.UnsupportedMediaTypeError):
        o2v.encode([{"in0": [1]}], "text/csv")


# --------------------------------------------------------------------------------------
# Media types and INFERENCE_PREFERRED_MODE
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ct", "want"),
    [
        ("application/json", o2v.RequestType(JSON, None)),
        ("Application/JSON; charset=utf-8", o2v.RequestType(JSON, None)),
        ("application/json; infer_max_seqlens=5,5", o2v.RequestType(JSON, (5, 5))),
        ("application/json;infer_max_seqlens = 1 , 5000", o2v.RequestType(JSON, (1, 5000))),
        ('application/json; infer_max_seqlens="20,10"; charset=UTF-8', o2v.RequestType(JSON, (20, 10))),
        ("application/jsonlines; INFER_MAX_SEQLENS=3,4", o2v.RequestType(JSONL, (3, 4))),
        ("application/x-jsonlines", o2v.RequestType(JSONL, None)),
    ],
)
def test_parse_content_type(ct: str, want: o2v.RequestType) -> None:
    assert o2v.parse_content_type(ct) == want


@pytest.mark.parametrize(
    ("ct", "reason"),
    [
        ("application/json; infer_max_seqlens=0,5", "infer_max_seqlens values must be in 1..5000, got '0,5'"),
        (
            "application/json; infer_max_seqlens=5,5001",
            "infer_max_seqlens values must be in 1..5000, got '5,5001'",
        ),
        (
            "application/json; infer_max_seqlens=5",
            "infer_max_seqlens must be two integers <enc0>,<enc1>, got '5'",
        ),
        (
            "application/json; infer_max_seqlens=a,b",
            "infer_max_seqlens must be two integers <enc0>,<enc1>, got 'a,b'",
        ),
        (
            "application/json; infer_max_seqlens=1,2,3",
            "infer_max_seqlens must be two integers <enc0>,<enc1>, got '1,2,3'",
        ),
        (
            "application/json; infer_max_seqlens=1,2; infer_max_seqlens=1,2",
            "parameter 'infer_max_seqlens' given twice",
        ),
        ("text/csv", "Object2Vec reads application/json and application/jsonlines, not text/csv"),
        ("application/json; charset=latin-1", "charset 'latin-1' is not supported (JSON is UTF-8)"),
        (
            "application/x-jsonlines; infer_max_seqlens=2,3; charset=utf-16",
            "charset 'utf-16' is not supported (JSON is UTF-8)",
        ),
        ("text/x-libsvm", "Object2Vec reads application/json and application/jsonlines, not text/x-libsvm"),
    ],
)
def test_parse_content_type_errors(ct: str, reason: str) -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        o2v.parse_content_type(ct)
    assert (e.value.content_type, e.value.supported, e.value.reason) == (ct, (JSON, JSONL), reason)
    assert e.value.status_hint == 415
    assert e.value.supported == (JSON, JSONL)


def test_bad_content_type_is_checked_by_decode_too() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError):
        o2v.decode(AWS_JSON_REQUEST, "application/json; infer_max_seqlens=0,0")


def test_parse_preferred_mode() -> None:
    assert o2v.parse_preferred_mode({"INFERENCE_PREFERRED_MODE": "classification"}) == "classification"
    assert o2v.parse_preferred_mode({"INFERENCE_PREFERRED_MODE": "embedding"}) == "embedding"
    assert o2v.parse_preferred_mode({"INFERENCE_PREFERRED_MODE": " Embedding\n"}) == "embedding"
    assert o2v.parse_preferred_mode({}) is None
    assert o2v.parse_preferred_mode({"INFERENCE_PREFERRED_MODE": ""}) is None
    assert o2v.parse_preferred_mode({"OTHER": "x"}) is None
    for bad in ("regression", "gpu", "classification,embedding"):
        with pytest.raises(
            ValueError, match=r"INFERENCE_PREFERRED_MODE must be 'classification' or 'embedding', got"
        ):
            o2v.parse_preferred_mode({"INFERENCE_PREFERRED_MODE": bad})


def test_parse_preferred_mode_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_PREFERRED_MODE", "embedding")
    assert o2v.parse_preferred_mode(None) == "embedding"
    monkeypatch.delenv("INFERENCE_PREFERRED_MODE")
    assert o2v.parse_preferred_mode() is None


def test_codec_objects() -> None:
    codec = o2v.Object2VecJsonCodec.from_params({"infer_max_seqlens": "7,8", "charset": "utf-8"})
    assert codec.infer_max_seqlens == (7, 8)
    assert codec.content_type == JSON
    assert codec.decode(AWS_JSON_REQUEST) == o2v.decode(AWS_JSON_REQUEST)
    lines = o2v.Object2VecJsonLinesCodec.from_params({})
    assert lines.content_type == JSONL and lines.aliases == ("application/x-jsonlines",)
    assert lines.infer_max_seqlens is None
    assert lines.encode(lines.decode(AWS_JSONL_REQUEST)) == AWS_JSONL_REQUEST + b"\n"
    assert smp.RecordBatch.concat(list(lines.iter_decode(AWS_JSONL_REQUEST, batch_size=2))) == lines.decode(
        AWS_JSONL_REQUEST
    )
    scores = smp.RecordBatch(label={"scores": np.array([[0.25, 0.75]], np.float32)})
    assert lines.decode_response(lines.encode_response(scores)) == o2v.decode_response(
        b'{"scores":[0.25,0.75]}', JSONL
    )
    with pytest.raises(smp.UnsupportedMediaTypeError):
        o2v.Object2VecJsonCodec.from_params({"infer_max_seqlens": "9999,1"})


# --------------------------------------------------------------------------------------
# Errors: exact types, reasons and positions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason", "offset", "index"),
    [
        (
            b'{"instances": [{"in0": [1, 2]}, {"in1": [4, 1.5]}]}',
            "in1[1]: 1.5 is not a token id (an integer in 0..2147483647)",
            44,
            1,
        ),
        (
            b'{"instances": [{"in0": [1, 2.0]}]}',
            "in0[1]: 2.0 is not a token id (an integer in 0..2147483647)",
            27,
            0,
        ),
        (
            b'{"instances": [{"in0": [1, "3"]}]}',
            "in0[1]: the string '3' is not a token id (an integer in 0..2147483647)",
            27,
            0,
        ),
        (
            b'{"instances": [{"in0": [true]}]}',
            "in0[0]: true is not a token id (an integer in 0..2147483647)",
            24,
            0,
        ),
        (
            b'{"instances": [{"in0": [1, null]}]}',
            "in0[1]: null is not a token id (an integer in 0..2147483647)",
            27,
            0,
        ),
        (
            b'{"instances": [{"in0": [[1]]}]}',
            "in0[0]: a list is not a token id (an integer in 0..2147483647)",
            24,
            0,
        ),
        (
            b'{"instances": [{"in0": [5]}, {"in0": [-3]}]}',
            "in0[0]: token id -3 is negative; token ids are integers in 0..2147483647",
            38,
            1,
        ),
        (
            b'{"instances": [{"in0": [2147483648]}]}',
            "in0[0]: token id 2147483648 is larger than int32 allows; "
            "token ids are integers in 0..2147483647",
            24,
            0,
        ),
        (
            b'{"instances": [{"in0": [1]}, {"in0": [0, 99999999999999999999999]}]}',
            "in0[1]: token id 99999999999999999999999 is outside int32; "
            "token ids are integers in 0..2147483647",
            41,
            1,
        ),
        (
            b'{"instances": [{"in0": [1], "label": 1}]}',
            "unexpected key 'label' in an instance; Object2Vec instances hold in0 and/or in1",
            37,
            0,
        ),
        (
            b'{"instances": [{"in0": null, "in1": [1]}]}',
            "in0 must be a list of token ids, got null (leave the key out instead)",
            23,
            0,
        ),
        (b'{"instances": [{"in0": 5}]}', "in0 must be a list of token ids, got 5", 23, 0),
        (
            b'{"instances": [{"in0": [1]}, {}]}',
            "an instance needs in0, in1 or both; this one has neither",
            29,
            1,
        ),
        (
            b'{"instances": [[1, 2]]}',
            'an instance must be an object {"in0": [...], "in1": [...]}, got a list',
            15,
            0,
        ),
    ],
)
def test_json_token_errors(body: bytes, reason: str, offset: int, index: int) -> None:
    with pytest.raises(smp.DecodeError) as e:
        o2v.decode(body, JSON)
    lines = b"".join(json.dumps(v).encode() + b"\n" for v in json.loads(body)["instances"])
    with pytest.raises(smp.DecodeError) as e_lines:
        o2v.decode(lines, JSONL)
    assert (e_lines.value.reason, e_lines.value.record_index, e_lines.value.line) == (
        reason,
        index,
        index + 1,
    )
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset, e.value.record_index, e.value.line) == (
        reason,
        offset,
        index,
        None,
    )
    assert e.value.content_type == JSON


def test_the_earliest_record_is_reported() -> None:
    """in1 of record 0 is bad, in0 of record 1 too: record 0 is named."""
    with pytest.raises(smp.DecodeError) as e:
        o2v.decode(b'{"instances": [{"in0": [1], "in1": [-1]}, {"in0": [-2], "in1": [1]}]}')
    assert (e.value.record_index, e.value.reason[:6]) == (0, "in1[0]")


@pytest.mark.parametrize(
    ("body", "reason", "offset"),
    [
        (b"", 'empty body: expected {"instances": [...]}', 0),
        (b'[{"in0": [1]}]', 'expected {"instances": [...]}, got a list', 0),
        (b'{"in0": [1]}', "expected {\"instances\": [...]}, got an object without 'instances'", 0),
        (
            b'{"instances": [], "configuration": {}}',
            "unexpected top-level key 'configuration'; Object2Vec requests hold only 'instances'",
            0,
        ),
        (b'{"instances": {"in0": [1]}}', "'instances' must be a list, got an object", 0),
        (b'{"instances": [{"in0": [1,]}]}', "invalid JSON: trailing comma is not allowed", 25),
    ],
)
def test_json_document_errors(body: bytes, reason: str, offset: int) -> None:
    with pytest.raises(smp.DecodeError) as e:
        o2v.decode(body, JSON)
    assert e.value.reason.startswith(reason)
    assert e.value.offset == offset


def test_jsonlines_errors_name_line_offset_and_record() -> None:
    body = b'{"in0": [1]}\n\n  {"in0": [2], "in1": [3, -4]}\r\n{"in0": [5]}\n'
    with pytest.raises(smp.DecodeError) as e:
        o2v.decode(body, JSONL)
    assert (e.value.line, e.value.record_index, e.value.offset) == (3, 1, 40)
    assert body[40:42] == b"-4"
    assert e.value.reason == "in1[1]: token id -4 is negative; token ids are integers in 0..2147483647"
    assert str(e.value) == (
        "application/jsonlines: in1[1]: token id -4 is negative; token ids are integers in "
        "0..2147483647 at line 3 (byte 40, record 1)"
    )
    with pytest.raises(smp.DecodeError) as s:
        o2v.decode(b'{"in0": [1]}\n{"in0": [1, 2}\n', JSONL)
    assert (s.value.line, s.value.record_index, s.value.offset) == (2, 1, 26)
    assert s.value.reason.startswith("invalid JSON")
    with pytest.raises(smp.DecodeError) as u:
        o2v.decode(b'{"in0": [1]}\n{"in0": [1], "\xff": 2}\n', JSONL)
    assert (u.value.line, u.value.record_index) == (2, 1)


def test_decode_error_pickles() -> None:
    with pytest.raises(smp.DecodeError) as e:
        o2v.decode(b'{"in0": [-1]}', JSONL)
    again = pickle.loads(pickle.dumps(e.value))
    assert (again.reason, again.offset, again.line, again.record_index) == (
        e.value.reason,
        e.value.offset,
        e.value.line,
        e.value.record_index,
    )
    err = o2v.InstanceError("x", record_index=3, input="in0", position=2)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.record_index, back.input, back.position) == (
        "Object2Vec: x (record 3)",
        3,
        "in0",
        2,
    )


def test_empty_and_blank_bodies() -> None:
    assert len(o2v.decode(b"", JSONL)) == 0
    assert len(o2v.decode(b"\n \r\n", JSONL)) == 0
    assert len(o2v.decode(b'{"instances": []}', JSON)) == 0
    assert list(o2v.iter_decode(b"", JSONL, batch_size=3)) == []
    assert o2v.decode(b'\xef\xbb\xbf{"in0": [1]}', JSONL).features["in0"].to_lists() == [[1]]
    assert o2v.decode(b'\xef\xbb\xbf{"instances": [{"in0": [1]}]}', JSON).features["in0"].to_lists() == [[1]]


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

token_lists = st.lists(st.integers(0, INT32_MAX), max_size=6)


@st.composite
def instance_lists(draw: st.DrawFn) -> list[dict[str, list[int]]]:
    n = draw(st.integers(0, 8))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["both", "in0", "in1"]))
        d = {}
        if kind != "in1":
            d["in0"] = draw(token_lists)
        if kind != "in0":
            d["in1"] = draw(token_lists)
        out.append(d)
    return out


@given(instance_lists(), st.sampled_from([JSON, JSONL]), st.booleans())
def test_round_trip(objs: list[dict[str, list[int]]], ct: str, compact: bool) -> None:
    body = o2v.encode(objs, ct, compact=compact)
    if ct == JSON and not compact:
        assert body == json.dumps({"instances": objs}).encode()
    batch = o2v.decode(body, ct)
    assert len(batch) == len(objs)
    for key in ("in0", "in1"):
        want = [d.get(key) for d in objs]
        if all(w is None for w in want):
            assert key not in batch.features
        else:
            assert batch.features[key].dtype == np.int32
            assert batch.features[key].to_lists() == want
    assert o2v.encode(batch, ct, compact=compact) == body


@given(instance_lists(), st.integers(1, 5), st.integers(1, 64), st.booleans())
def test_iter_decode_chunked_equals_whole(
    objs: list[dict[str, list[int]]], batch_size: int, block_size: int, stream: bool
) -> None:
    body = o2v.encode(objs, JSONL).replace(b"\n", b"\r\n\n")
    whole = o2v.decode(body, JSONL)
    source = io.BytesIO(body) if stream else body
    parts = list(o2v.iter_decode(source, JSONL, batch_size=batch_size, block_size=block_size))
    assert all(len(p) == batch_size for p in parts[:-1])
    assert sum(len(p) for p in parts) == len(objs)
    if objs:
        assert smp.RecordBatch.concat(parts) == whole
    json_parts = list(o2v.iter_decode(o2v.encode(objs, JSON), JSON, batch_size=batch_size))
    assert sum(len(p) for p in json_parts) == len(objs)


@given(instance_lists(), st.integers(1, 4), st.integers(1, 40), st.integers(0, 10**6))
def test_iter_decode_errors_carry_whole_input_positions(
    objs: list[dict[str, list[int]]], batch_size: int, block_size: int, salt: int
) -> None:
    """A bad token anywhere: the streamed error equals the whole-input error."""
    if not objs:
        objs = [{"in0": [1]}]
    i = salt % len(objs)
    key = next(iter(objs[i]))
    objs[i][key] = [*objs[i][key], -1]
    body = b"".join(json.dumps(d).encode() + b"\n" for d in objs)
    with pytest.raises(smp.DecodeError) as whole:
        o2v.decode(body, JSONL)
    with pytest.raises(smp.DecodeError) as part:
        for _ in o2v.iter_decode(io.BytesIO(body), JSONL, batch_size=batch_size, block_size=block_size):
            pass
    assert (part.value.reason, part.value.offset, part.value.line, part.value.record_index) == (
        whole.value.reason,
        whole.value.offset,
        whole.value.line,
        whole.value.record_index,
    )
    assert whole.value.record_index == i
    assert body[whole.value.offset : whole.value.offset + 2] == b"-1"


@given(st.binary(max_size=200), st.sampled_from([JSON, JSONL]))
def test_garbage_gives_only_decode_error(data: bytes, ct: str) -> None:
    with contextlib.suppress(smp.DecodeError):
        o2v.decode(data, ct)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["in0", "in1", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.lists(json_values, max_size=4))
def test_wrong_shapes_give_only_decode_error(items: list[object]) -> None:
    for body, ct in (
        (json.dumps({"instances": items}).encode(), JSON),
        (b"\n".join(json.dumps(v).encode() for v in items), JSONL),
    ):
        try:
            batch = o2v.decode(body, ct)
        except smp.DecodeError as e:
            assert e.record_index is None or 0 <= e.record_index < max(1, len(items))
        else:
            assert len(batch) == len(items)


@given(instance_lists(), st.data())
def test_mutated_payloads_give_only_decode_error(
    objs: list[dict[str, list[int]]], data: st.DataObject
) -> None:
    body = bytearray(o2v.encode(objs, data.draw(st.sampled_from([JSON, JSONL]))))
    for _ in range(data.draw(st.integers(1, 3))):
        if body:
            pos = data.draw(st.integers(0, len(body) - 1))
            body[pos] = data.draw(st.sampled_from(b'[]{},:-."0 e\n\xff'))
    for ct in (JSON, JSONL):
        with contextlib.suppress(smp.DecodeError):
            o2v.decode(bytes(body), ct)


def test_lines_that_only_parse_when_joined_are_refused_line_by_line() -> None:
    """Regression for the one-call block parse: these three lines join into a valid array
    of three objects, but line 1 is not JSON on its own; the error says so."""
    body = b'{"in0": [{}\n{}]}\n{"in0": [1]}, {"in1": [2]}\n'
    with pytest.raises(smp.DecodeError) as e:
        o2v.decode(body, JSONL)
    assert (e.value.line, e.value.record_index, e.value.offset) == (1, 0, 11)
    assert e.value.reason.startswith("invalid JSON")
    with pytest.raises(smp.DecodeError) as two:
        o2v.decode(b'{"in0": [1]}, {"in1": [2]}\n', JSONL)
    assert (two.value.line, two.value.record_index) == (1, 0)
    assert two.value.reason.startswith("invalid JSON")


def test_the_codec_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, sm_payloads.object2vec as m; m.decode(b'{\"in0\": [1]}', 'application/jsonlines'); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
