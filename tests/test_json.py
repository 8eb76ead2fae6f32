"""application/json: golden cases from the docs, exact errors, and properties."""

from __future__ import annotations

import contextlib
import json
import math
import re

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from hypothesis import assume, example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as JL
from sm_payloads.formats import json as J

from .helpers import arrays, assert_batches_equal, record_batches

CT = "application/json"


def dense_values(batch: smp.RecordBatch, key: str = "values") -> list:
    return batch.features[key].tolist()


# ======================================================================================
# Golden: the Developer Guide page "Common Data Formats for Inference" (an older version;
# docs/formats/json.md, "Requests")
# ======================================================================================

AWS_DENSE_MULTI = b"""{
"instances": [
{
"features": [ 1.5, 16.0, 14.0, 23.0 ]
},
{
"features": [ -2.0, 100.2, 15.2, 9.2 ]
}
]
}"""


def test_aws_docs_dense_shorthand_two_records() -> None:
    """The inference formats page, "And, for multiple records" (JS comments removed)."""
    b = J.decode(AWS_DENSE_MULTI)
    assert list(b.features) == ["values"] and b.label == {}
    assert b.features["values"].dtype == np.float64
    assert dense_values(b) == [[1.5, 16.0, 14.0, 23.0], [-2.0, 100.2, 15.2, 9.2]]


def test_aws_docs_dense_long_form() -> None:
    """The inference formats page, "Dense Format", second request (protobuf-equivalent)."""
    body = b'{"instances": [{"data": {"features": {"values": [ 1.5, 16.0, 14.0, 23.0]}}}]}'
    assert dense_values(J.decode(body)) == [[1.5, 16.0, 14.0, 23.0]]
    short = b'{"instances": [{"features": [1.5, 16.0, 14.0, 23.0]}]}'
    assert_batches_equal(J.decode(body), J.decode(short))


def test_aws_docs_simple_numeric_vector_and_its_conversion() -> None:
    """The inference formats page: a simple numeric vector is one instance, converted to
    {"features": {"values": dataElement}}. Both read the same."""
    vector = b"[1.5, 16.0, 14.0, 23.0]"
    converted = b'{"features": {"values": [1.5, 16.0, 14.0, 23.0]}}'
    assert dense_values(J.decode(vector)) == [[1.5, 16.0, 14.0, 23.0]]
    assert_batches_equal(J.decode(vector), J.decode(converted))


AWS_SPARSE_VALID = b"""{
"instances": [
{"data": {"features": {
"keys": [26, 182, 232, 243, 431],
"shape": [2000],
"values": [1, 1, 1, 4, 1]
}
}
},
{"data": {"features": {
"keys": [0, 182, 232, 243, 431],
"shape": [2000],
"values": [13, 1, 1, 4, 1]
}
}
}
]
}"""


def test_aws_docs_sparse() -> None:
    """The inference formats page, "Sparse Format" (docs/formats/json.md), with the trailing
    comma removed."""
    m = J.decode(AWS_SPARSE_VALID).features["values"]
    assert sp.issparse(m) and m.shape == (2, 2000) and m.dtype == np.float64
    assert m.indptr.tolist() == [0, 5, 10]
    assert m.indices.tolist() == [26, 182, 232, 243, 431, 0, 182, 232, 243, 431]
    assert m.data.tolist() == [1, 1, 1, 4, 1, 13, 1, 1, 4, 1]


def test_aws_docs_sparse_verbatim_trailing_comma_is_rejected_where_it_is() -> None:
    """The inference formats page prints the sparse request with a trailing comma (not JSON):
    we do not guess."""
    verbatim = AWS_SPARSE_VALID.replace(b"}\n}\n}\n]", b"}\n}\n},\n]")
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(verbatim)
    e = ei.value
    assert e.reason == "invalid JSON: trailing comma is not allowed"
    assert verbatim[e.offset - 1 : e.offset + 2] == b"},\n"[:1] + b",\n"
    assert e.line == 16 and e.record_index is None and e.content_type == CT


@pytest.mark.parametrize(
    ("body", "offset"),
    [(b"[[1],[\x0b],[2]]", 6), (b"[[\x0c]]", 2), (b'{"instances":[[1],[\x0c\x0b]]}', 19)],
)
def test_non_json_blanks_in_a_number_list_are_rejected(body: bytes, offset: int) -> None:
    """Vertical tab and form feed are whitespace to Python, not to JSON: a list holding only
    them is invalid, not empty (on the C path and on the pure one, which CI runs too)."""
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(body)
    assert ei.value.offset == offset
    assert ei.value.reason == "invalid JSON: unexpected character, expected a JSON value"
    assert J.decode(b"[[1],[ \r\n\t],[2]]").features["values"].lengths.tolist() == [1, 0, 1]


def test_aws_docs_verbatim_javascript_is_not_json() -> None:
    """The inference formats page shows requests as JavaScript (`let request = {...}` with
    comments)."""
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(b'let request = {\n// Instances\n"instances": []}')
    assert ei.value.offset == 0 and ei.value.line == 1


def test_aws_docs_kmeans_responses() -> None:
    """The inference formats page: single- and multi-record k-means responses."""
    single = J.decode_response(b'{"predictions": [{"closest_cluster": 5, "distance_to_cluster": 36.5}]}')
    assert single.features == {}
    assert list(single.label) == ["closest_cluster", "distance_to_cluster"]
    assert single.label["closest_cluster"].tolist() == [5.0]
    assert single.label["closest_cluster"].shape == (1,)
    multi = J.decode_response(
        b'{"predictions": [{"closest_cluster": 5, "distance_to_cluster": 36.5},'
        b' {"closest_cluster": 2, "distance_to_cluster": 90.3}]}'
    )
    assert multi.label["closest_cluster"].tolist() == [5.0, 2.0]
    assert multi.label["distance_to_cluster"].tolist() == [36.5, 90.3]


def test_aws_docs_protobuf_input_depiction_rewritten_valid() -> None:
    """The inference formats page, "Multi-record inference with protobuf input": a textual
    picture of a Record, its metadata string with unescaped quotes (docs/formats/recordio-protobuf.md,
    "How SageMaker's tools use the format"). Rewritten as valid JSON it is a record
    object of our grammar: empty features vector, label map, uid, metadata."""
    body = (
        b'{"features": [], "label": {"closest_cluster": {"values": [5.0]},'
        b' "distance_to_cluster": {"values": [36.5]}}, "uid": "abc123",'
        b' "metadata": "{ \\"created_at\\": \'2017-06-03\' }"}'
    )
    b = J.decode(body)
    assert b.features["values"].shape == (1, 0)
    assert b.label["closest_cluster"].tolist() == [5.0]  # a one-value label tensor is a scalar
    assert b.label["distance_to_cluster"].tolist() == [36.5]
    assert b.uid == ("abc123",) and b.metadata == ("{ \"created_at\": '2017-06-03' }",)


def test_aws_docs_general_shape_with_configuration() -> None:
    """The inference formats page's general shape (docs/formats/json.md, "Requests"):
    {"configuration": {}, "data": {"<field name>": ...}}."""
    b = J.decode(b'{"instances": [{"configuration": {}, "data": {"features": [1.5, 16.0]}}]}')
    assert dense_values(b) == [[1.5, 16.0]] and b.configuration == ("{}",)


# ======================================================================================
# Golden: docs/formats/json.md, docs/algorithms.md (each algorithm's responses) and
# docs/autopilot.md (XGBoost and Autopilot outputs)
# ======================================================================================


def test_formats_2_2_mixed_forms_knn() -> None:
    """docs/formats/json.md, "Requests" (as on the k-NN page): long and short form in one request."""
    b = J.decode(
        b'{"instances": [{"data": {"features": {"values": [-3, -1, -4, 2]}}},'
        b' {"features": [3.0, 0.1, 0.04, 0.002]}]}'
    )
    assert dense_values(b) == [[-3.0, -1.0, -4.0, 2.0], [3.0, 0.1, 0.04, 0.002]]


def test_formats_2_2_ip_insights_strings() -> None:
    """docs/formats/json.md, "Requests": IP Insights sends strings."""
    b = J.decode(
        b'{"instances": [{"data": {"features": {"values": ["entity_id_1", "192.168.1.2"]}}},'
        b' {"features": ["entity_id_2", "10.10.1.2"]}]}'
    )
    assert b.features["values"].tolist() == [["entity_id_1", "192.168.1.2"], ["entity_id_2", "10.10.1.2"]]
    again = J.decode(J.encode(b))
    assert again == b


def test_formats_4_10_object2vec_pairs_and_embeddings() -> None:
    """docs/object2vec.md, "Requests": Object2Vec token lists are top-level in0/in1 (ragged)."""
    body = (
        b'{"instances": [{"in0": [6, 17, 606, 19, 53, 67, 52, 12, 5, 10, 15, 10178, 7, 33, 652,'
        b' 80, 15, 69, 821, 4], "in1": [16, 21, 13, 45, 14, 9, 80, 59, 164, 4]},'
        b' {"in0": [22, 1016, 32, 13, 25, 11, 5, 64, 573, 45, 5, 80, 15, 67, 21, 7, 9, 107, 4],'
        b' "in1": [22, 32, 13, 25, 1016, 573, 3252, 4]}, {"in0": [774, 14, 21, 206], "in1": [21, 366, 125]}]}'
    )
    b = J.decode(body, dtype={"in0": "int32", "in1": "int32"})
    in0, in1 = b.features["in0"], b.features["in1"]
    assert isinstance(in0, smp.Ragged) and in0.values.dtype == np.int32
    assert in0.lengths.tolist() == [20, 19, 4] and in1.lengths.tolist() == [10, 8, 3]
    assert in1.to_lists()[2] == [21, 366, 125]
    assert J.encode(b).startswith(b'{"instances":[{"in0":[6,17,606,')
    emb = J.decode(b'{"instances": [{"in0": [774, 14, 21, 206]}, {"in1": [5]}]}')
    assert emb.features["in0"].to_lists() == [[774.0, 14.0, 21.0, 206.0], None]
    assert emb.features["in1"].to_lists() == [None, [5.0]]


@pytest.mark.parametrize(
    ("source", "body", "expected"),
    [
        (
            "PCA (projections envelope)",
            b'{"projections": [{"projection": [1.0, 2.0, 3.0, 4.0, 5.0]}, {"projection": [6.0, 7.0, 8.0, 9.0, 0.0]}]}',  # noqa: E501
            {"projection": [[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 0.0]]},
        ),
        (
            "Random Cut Forest (scores envelope)",
            b'{"scores": [{"score": 0.02}, {"score": 0.25}]}',
            {"score": [0.02, 0.25]},
        ),
        (
            "k-means real output (Developer Guide, Validate the Model)",
            b'{"predictions": [{"distance_to_cluster": 7.2033820152282715, "closest_cluster": 7.0}]}',
            {"distance_to_cluster": [7.2033820152282715], "closest_cluster": [7.0]},
        ),
        (
            "Linear Learner binary",
            b'{"predictions": [{"score": 0.4, "predicted_label": 0}]}',
            {"score": [0.4], "predicted_label": [0.0]},
        ),
        (
            "Linear Learner multiclass (captured output)",
            b'{"predictions": [{"score": [0.9913098216056824, 0.008546961471438408, 0.000143218640005216], "predicted_label": 0.0}]}',  # noqa: E501
            {
                "score": [[0.9913098216056824, 0.008546961471438408, 0.000143218640005216]],
                "predicted_label": [0.0],
            },
        ),
        (
            "Factorization Machines (captured output)",
            b'{"predictions": [{"score": 0.9999101161956787, "predicted_label": 1.0}, {"score": 0.8490985631942749, "predicted_label": 1.0}, {"score": 1.0, "predicted_label": 1.0}]}',  # noqa: E501
            {"score": [0.9999101161956787, 0.8490985631942749, 1.0], "predicted_label": [1.0, 1.0, 1.0]},
        ),
        (
            "NTM",
            b'{"predictions": [{"topic_weights": [0.02, 0.1, 0.0]}, {"topic_weights": [0.25, 0.067, 0.0]}]}',
            {"topic_weights": [[0.02, 0.1, 0.0], [0.25, 0.067, 0.0]]},
        ),
        (
            "LDA",
            b'{"predictions": [{"topic_mixture": [0.3, 0.2, 0.0, 0.5, 0.0]}]}',
            {"topic_mixture": [[0.3, 0.2, 0.0, 0.5, 0.0]]},
        ),
        (
            "k-NN verbose",
            b'{"predictions": [{"predicted_label": 0.0, "distances": [3.11792408, 3.89746071, 6.32548437], "labels": [0.0, 1.0, 0.0]},'  # noqa: E501
            b' {"predicted_label": 2.0, "distances": [1.08470316, 3.04917915, 5.25393973], "labels": [2.0, 2.0, 0.0]}]}',  # noqa: E501
            {
                "predicted_label": [0.0, 2.0],
                "distances": [[3.11792408, 3.89746071, 6.32548437], [1.08470316, 3.04917915, 5.25393973]],
                "labels": [[0.0, 1.0, 0.0], [2.0, 2.0, 0.0]],
            },
        ),
        (
            "IP Insights verbose",
            b'{"predictions": [{"dot_product": 0.0, "entity_embedding": [1.0, 0.0, 0.0], "ip_embedding": [0.0, 1.0, 0.0]},'  # noqa: E501
            b' {"dot_product": 2.0, "entity_embedding": [1.0, 0.0, 1.0], "ip_embedding": [1.0, 0.0, 1.0]}]}',
            {
                "dot_product": [0.0, 2.0],
                "entity_embedding": [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]],
                "ip_embedding": [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]],
            },
        ),
        (
            "Object2Vec scores",
            b'{"predictions": [{"scores": [0.6533935070037842, 0.07582679390907288, 0.2707797586917877]}, {"scores": [0.026291321963071823, 0.6577019095420837, 0.31600672006607056]}]}',  # noqa: E501
            {
                "scores": [
                    [0.6533935070037842, 0.07582679390907288, 0.2707797586917877],
                    [0.026291321963071823, 0.6577019095420837, 0.31600672006607056],
                ]
            },
        ),
        (
            "XGBoost selectable output, fixed key order",
            b'{"predictions": [{"predicted_label": 1, "labels": [0, 1], "probability": 0.8234567046165466, "probabilities": [0.17654329538345337, 0.8234567046165466]},'  # noqa: E501
            b' {"predicted_label": 0, "labels": [0, 1], "probability": 0.10000000149011612, "probabilities": [0.8999999985098839, 0.10000000149011612]}]}',  # noqa: E501
            {
                "predicted_label": [1.0, 0.0],
                "labels": [[0.0, 1.0], [0.0, 1.0]],
                "probability": [0.8234567046165466, 0.10000000149011612],
                "probabilities": [
                    [0.17654329538345337, 0.8234567046165466],
                    [0.8999999985098839, 0.10000000149011612],
                ],
            },
        ),
        (
            "Autopilot post-processing: list values arrive as strings",
            b'{"predictions": [{"predicted_label": "True.", "probability": "0.8234567046165466", "probabilities": "[0.17654329538345337, 0.8234567046165466]", "labels": "[\'False.\', \'True.\']"}]}',  # noqa: E501
            {
                "predicted_label": ["True."],
                "probability": ["0.8234567046165466"],
                "probabilities": ["[0.17654329538345337, 0.8234567046165466]"],
                "labels": ["['False.', 'True.']"],
            },
        ),
        (
            "XGBoost plain regression",
            b'{"predictions": [{"score": 3.5}, {"score": -1.25}]}',
            {"score": [3.5, -1.25]},
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_formats_response_examples(source: str, body: bytes, expected: dict) -> None:
    b = J.decode_response(body)
    assert b.features == {}
    assert list(b.label) == list(expected), source
    for key, want in expected.items():
        assert b.label[key].tolist() == want, (source, key)
    # What we write reads back the same (strings stay strings, scalars stay scalars).
    for envelope in J.ENVELOPES:
        assert J.decode_response(J.encode_response(b, envelope=envelope)) == b


def test_formats_4_11_blazingtext_request_level_configuration() -> None:
    """BlazingText (docs/formats/json.md, "From JSON values to columns"): strings as instances
    and a request-level configuration."""
    body = (
        b'{"instances": ["the movie was excellent", "i did not like the plot ."], "configuration": {"k": 2}}'
    )
    b = J.decode(body)
    assert b.features["values"].tolist() == ["the movie was excellent", "i did not like the plot ."]
    assert b.configuration == ('{"k":2}', '{"k":2}')
    assert J.encode(b, configuration="request") == (
        b'{"instances":[{"features":"the movie was excellent"},{"features":"i did not like the plot ."}],'
        b'"configuration":{"k":2}}'
    )
    assert J.decode(J.encode(b, configuration="request")) == b
    assert J.decode(J.encode(b)) == b  # per instance
    mixed = smp.RecordBatch({"values": np.array(["a", "b"])}, configuration=['{"k":1}', None])
    with pytest.raises(smp.EncodeError) as ei:
        J.encode(mixed, configuration="request")
    assert ei.value.column == "configuration"


def test_formats_4_12_deepar_is_not_a_batch() -> None:
    """docs/formats/json.md, "Deliberately unsupported": DeepAR's "target" mixes numbers and
    the string "NaN", and its response nests objects; neither is a RecordBatch column."""
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(b'{"instances": [{"start": "2009-11-01 00:00:00", "target": [4.0, 10.0, "NaN", 100.0]}]}')
    assert (
        ei.value.reason == "$.instances[0].target: expected a list of numbers or of strings, found a string"
    )
    assert ei.value.record_index == 0
    with pytest.raises(smp.DecodeError) as ei:
        J.decode_response(b'{"predictions": [{"quantiles": {"0.9": [1.0], "0.5": [0.5]}, "mean": [0.7]}]}')
    assert ei.value.reason == (
        "$.predictions[0].quantiles: unexpected key '0.5' in a tensor object (expected values, keys, shape)"
    )


def test_formats_6_5_xgboost_nan_needs_allow_nan() -> None:
    """docs/formats/json.md, "NaN and infinities": XGBoost writes NaN (Python json) for keys
    invalid for the objective (docs/autopilot.md)."""
    body = b'{"predictions": [{"predicted_label": 1, "labels": NaN, "raw_score": -Infinity}]}'
    with pytest.raises(smp.DecodeError) as ei:
        J.decode_response(body)
    assert "pass allow_nan=True" in ei.value.reason and ei.value.offset == body.index(b"NaN")
    b = J.decode_response(body, allow_nan=True)
    assert math.isnan(b.label["labels"][0]) and b.label["raw_score"].tolist() == [-math.inf]
    assert J.encode_response(b, allow_nan=True) == (
        b'{"predictions":[{"predicted_label":1.0,"labels":NaN,"raw_score":-Infinity}]}'
    )


# ======================================================================================
# Encoding: exact bytes
# ======================================================================================


def test_encode_dense_float32_shortest() -> None:
    X = np.array([[1.5, 16.0, 14.0, 23.0], [-2.0, 100.2, 15.2, 9.2]], np.float32)
    assert J.encode(smp.from_dense(X)) == (
        b'{"instances":[{"features":[1.5,16.0,14.0,23.0]},{"features":[-2.0,100.2,15.2,9.2]}]}'
    )
    # float64 prints its own shortest text: 100.2 as float32 widened is not 100.2.
    assert J.encode(smp.from_dense(X.astype(np.float64))) == (
        b'{"instances":[{"features":[1.5,16.0,14.0,23.0]},'
        b'{"features":[-2.0,100.19999694824219,15.199999809265137,9.199999809265137]}]}'
    )


def test_encode_int32_stays_int_and_labels() -> None:
    b = smp.from_dense(np.array([[1, 2]], np.int32), y=np.array([1.0], np.float32))
    assert J.encode(b) == b'{"instances":[{"features":[1,2],"label":{"values":1.0}}]}'
    assert J.encode(b, layout="protobuf") == (
        b'{"instances":[{"data":{"features":{"values":[1,2]}},"label":{"values":{"values":[1.0]}}}]}'
    )


def test_encode_sparse_defaults_to_documented_sparse_form() -> None:
    X = sp.csr_matrix((np.array([1, 1, 4], np.float32), [26, 182, 232], [0, 3]), shape=(1, 2000))
    body = J.encode(smp.from_sparse(X))
    assert (
        body
        == b'{"instances":[{"data":{"features":{"keys":[26,182,232],"shape":[2000],"values":[1.0,1.0,4.0]}}}]}'  # noqa: E501
    )
    assert J.decode(body, dtype="float32").features["values"].toarray().tolist() == X.toarray().tolist()
    dense = J.encode(smp.from_sparse(X[:, :4]), layout="dense")
    assert dense == b'{"instances":[{"features":[0.0,0.0,0.0,0.0]}]}'


def test_encode_layouts_side_by_side() -> None:
    b = smp.RecordBatch({"values": np.array([[0.0, 2.5]], np.float32), "in0": np.array([[7]], np.int32)})
    assert J.encode(b, layout="dense") == b'{"instances":[{"features":[0.0,2.5],"in0":[7]}]}'
    assert J.encode(b, layout="protobuf") == (
        b'{"instances":[{"data":{"features":{"values":[0.0,2.5]},"in0":{"values":[7]}}}]}'
    )
    assert J.encode(b, layout="sparse") == (
        b'{"instances":[{"data":{"features":{"keys":[1],"shape":[2],"values":[2.5]},'
        b'"in0":{"keys":[0],"shape":[1],"values":[7]}}}]}'
    )
    with pytest.raises(ValueError, match="layout must be"):
        J.encode(b, layout="csv")  # type: ignore[arg-type]


def test_encode_reserved_feature_names_go_into_data() -> None:
    b = smp.RecordBatch({"label": np.array([[1.0]]), "x": np.array([[2.0]])})
    body = J.encode(b)
    assert body == b'{"instances":[{"x":[2.0],"data":{"label":[1.0]}}]}'
    assert J.decode(body) == b
    with pytest.raises(smp.EncodeError) as ei:
        J.encode(smp.RecordBatch({"features": np.zeros((1, 1))}))
    assert ei.value.column == "features['features']"


def test_encode_responses_envelopes() -> None:
    """docs/formats/json.md, "Responses": PCA projections, RCF scores, predictions otherwise."""
    pca = smp.RecordBatch(label={"projection": np.array([[1.0, 2.0]], np.float32)})
    assert J.encode_response(pca, envelope="projections") == b'{"projections":[{"projection":[1.0,2.0]}]}'
    rcf = smp.RecordBatch(label={"score": np.array([0.02, 0.25], np.float32)})
    assert J.encode_response(rcf, envelope="scores") == b'{"scores":[{"score":0.02},{"score":0.25}]}'
    assert J.encode_response(rcf) == b'{"predictions":[{"score":0.02},{"score":0.25}]}'
    with pytest.raises(ValueError, match="envelope must be one of"):
        J.encode_response(rcf, envelope="results")
    # A batch with features only: those are the outputs.
    assert (
        J.encode_response(smp.from_dense(np.array([[0.5]], np.float32)))
        == b'{"predictions":[{"values":[0.5]}]}'
    )
    assert J.encode_response(smp.RecordBatch(n=0)) == b'{"predictions":[]}'


def test_encode_matrix_records_and_zero_sized_shapes() -> None:
    b = smp.RecordBatch({"m": np.arange(4, dtype=np.int32).reshape(1, 2, 2), "z": np.zeros((1, 0, 3))})
    body = J.encode(b)
    assert body == b'{"instances":[{"m":[[0,1],[2,3]],"z":{"values":[],"shape":[0,3]}}]}'
    assert J.decode(body, dtype={"m": "int32"}) == b


# ======================================================================================
# Numbers: exact text both ways
# ======================================================================================

FLOAT32_BITS = st.integers(0, 2**32 - 1).map(lambda i: np.array([i], np.uint32).view(np.float32)[0])


def _significant(text: str) -> str:
    mantissa = re.split("[eE]", text)[0].lstrip("-").replace(".", "").lstrip("0")
    return mantissa.rstrip("0") or "0"


@given(FLOAT32_BITS)
def test_float32_text_is_shortest_and_reads_back(x: np.float32) -> None:
    """orjson's OPT_SERIALIZE_NUMPY prints float32 with the shortest round-trip text
    (checked against numpy's Dragon4 `repr`), and float64 parsing + cast gives it back."""
    assume(np.isfinite(x))
    body = J.encode(smp.RecordBatch({"x": np.array([[x]], np.float32)}))
    text = re.search(rb'"x":\[([^\]]*)\]', body).group(1).decode()
    assert np.float32(float(text)) == x and (np.signbit(np.float32(float(text))) == np.signbit(x))
    assert len(_significant(text)) <= len(_significant(np.format_float_scientific(x, unique=True)))
    assert (
        J.decode(body, dtype="float32").features["x"].view(np.uint32)[0, 0]
        == np.array([x]).view(np.uint32)[0]
    )


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float64_text_is_pythons_repr_value(x: float) -> None:
    body = J.encode(smp.RecordBatch({"x": np.array([[x]])}))
    text = re.search(rb'"x":\[([^\]]*)\]', body).group(1).decode()
    assert float(text) == x and len(_significant(text)) <= len(_significant(repr(x)))
    got = J.decode(body).features["x"][0, 0]
    assert got == x and np.signbit(got) == np.signbit(x)


def test_nan_is_an_encode_error_naming_the_column() -> None:
    b = smp.RecordBatch({"values": np.array([[1.0, 2.0], [3.0, np.inf]], np.float32)})
    with pytest.raises(smp.EncodeError) as ei:
        J.encode(b)
    e = ei.value
    assert e.column == "features['values']" and e.content_type == CT and e.status_hint == 500
    assert e.reason.startswith("value inf in record 1 cannot be written as JSON")
    assert (
        J.encode(b, allow_nan=True) == b'{"instances":[{"features":[1.0,2.0]},{"features":[3.0,Infinity]}]}'
    )
    # Python's json reads what we wrote under allow_nan (its own spelling).
    assert json.loads(J.encode(b, allow_nan=True))["instances"][1]["features"][1] == math.inf


def test_numbers_out_of_range() -> None:
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(b"[1e400]")
    assert ei.value.offset == 1 and "infinity" in ei.value.reason
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(b'{"instances": [[1.0], [1e39]]}', dtype="float32")
    assert ei.value.reason == "features['values']: value 1e+39 is out of the float32 range (dtype=float32)"
    assert ei.value.record_index == 1
    assert J.decode(b"[123456789012345678901234567890]").features["values"].tolist() == [
        [1.2345678901234568e29]
    ]


def test_dtype_option() -> None:
    body = b'{"instances": [{"features": [1, 2.0], "in0": [3]}, {"features": [4, 5], "in0": [6, 7]}]}'
    b = J.decode(body, dtype={"values": "float32", "in0": "int32"})
    assert b.features["values"].dtype == np.float32 and b.features["in0"].values.dtype == np.int32
    assert J.decode(body, dtype="int32").features["values"].tolist() == [[1, 2], [4, 5]]
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(b"[[1], [2.5]]", dtype="int32")
    assert ei.value.reason == "features['values']: value 2.5 is not an int32 (dtype=int32)"
    assert ei.value.record_index == 1
    with pytest.raises(smp.DecodeError, match="is not an int32"):
        J.decode(b"[[2147483648]]", dtype="int32")
    with pytest.raises(ValueError, match="dtype must be"):
        J.decode(b"[1]", dtype="int64")


# ======================================================================================
# Errors: exact types and fields
# ======================================================================================


@pytest.mark.parametrize(
    ("body", "reason", "offset", "record_index"),
    [
        (b"", "empty body: expected a JSON document", 0, None),
        (b"\xef\xbb\xbf  ", "empty body: expected a JSON document", 3, None),
        (b'{"instances": [1, 2', "invalid JSON: unexpected end of data", 19, None),
        (b'{"a": "\xc3"}', "invalid UTF-8 (invalid continuation byte)", 7, None),
        (b'{"instances": 3}', "$.instances: expected a list, found int", b"3}", None),
        (b'{"instances": [], "x": 1}', "$: unexpected key 'x' beside 'instances'", b'"x"', None),
        (
            b'{"instances": [{"features": [true]}]}',
            "$.instances[0].features: expected a list of numbers or of strings, found true",
            b"true",
            0,
        ),
        (
            b'{"instances": [{}, {"features": null}]}',
            "$.instances[1].features: expected a number, a string, a list or a tensor object, found null",
            b"null",
            1,
        ),
        (
            b'{"instances": [{"data": {"features": {"keys": [1], "values": [1]}}}]}',
            "$.instances[0].data.features: a sparse tensor (with keys) needs a shape",
            b'{"keys"',
            0,
        ),
        (
            b'{"instances": [{"data": {"features": {"keys": [5], "shape": [4], "values": [1]}}}]}',
            "$.instances[0].data.features.keys: key 5 is outside the shape [4]",
            b"[5]",
            0,
        ),
        (
            b'{"instances": [{"data": {"features": {"keys": [1, 2], "shape": [4], "values": [1]}}}]}',
            "$.instances[0].data.features: 2 keys for 1 values",
            b'{"keys"',
            0,
        ),
        (
            b'{"instances": [{"data": {"features": {"keys": [-1], "shape": [4], "values": [1]}}}]}',
            "$.instances[0].data.features.keys: expected a list of non-negative integers",
            b"[-1]",
            0,
        ),
        (
            b'{"instances": [{"data": {"features": {"values": [1, 2, 3], "shape": [2, 2]}}}]}',
            "$.instances[0].data.features: shape [2, 2] has 4 values, got 3",
            b'{"values"',
            0,
        ),
        (
            b'{"instances": [{"features": [1], "data": {"features": [2]}}]}',
            "$.instances[0].data.features: feature 'values' is given twice",
            b"[2]",
            0,
        ),
        (
            b'{"instances": [{"features": [[1, 2], [3]]}]}',
            "$.instances[0].features: nested lists are not a rectangular array of numbers",
            b"[[1",
            0,
        ),
        (b'{"instances": [{"uid": 3}]}', "$.instances[0].uid: expected a string, found int", b"3}", 0),
        (
            b'{"instances": [{"features": ["a"]}, {"features": [1.0]}]}',
            "features['values']: numeric tensor in a column of byte strings (a RecordBatch column holds one kind of value)",  # noqa: E501
            b'{"features": [1.0]',
            1,
        ),
    ],
)
def test_decode_errors_exact(
    body: bytes, reason: str, offset: int | bytes | None, record_index: int | None
) -> None:
    with pytest.raises(smp.DecodeError) as ei:
        J.decode(body)
    e = ei.value
    if isinstance(offset, bytes):
        offset = body.index(offset)  # the value (or key) at fault
    assert type(e) is smp.DecodeError and e.status_hint == 400 and e.content_type == CT
    assert (e.reason, e.offset, e.record_index) == (reason, offset, record_index)


def test_depth_bomb_and_huge_nesting_are_decode_errors() -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50_000, b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(smp.DecodeError, match="depth limit exceeded"):
            J.decode(body)
        with pytest.raises(smp.DecodeError):
            J.decode(body, allow_nan=True)
    deep = b"[" * 60 + b"1" + b"]" * 60  # legal JSON, deeper than a tensor may be
    with pytest.raises(smp.DecodeError):
        J.decode(deep)


def test_wrong_python_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        J.decode(3)  # type: ignore[arg-type]
    with pytest.raises(smp.EncodeError):
        J.encode(np.zeros((1, 1)))  # type: ignore[arg-type]


def test_inputs_of_every_buffer_type() -> None:
    body = b'{"instances": [{"features": [1.5]}]}'
    for data in (body, bytearray(body), memoryview(body), memoryview(b"xx" + body)[2:], body.decode()):
        assert dense_values(J.decode(data)) == [[1.5]]


def test_codec_class_and_params() -> None:
    codec = J.JsonCodec.from_params({"charset": "UTF-8", "verbose": "true"})
    assert codec.content_type == CT and codec.aliases == ()
    b = smp.RecordBatch(label={"score": np.array([0.5], np.float32)})
    scores = J.JsonCodec.from_params({}, envelope="scores")
    assert scores.encode_response(b) == b'{"scores":[{"score":0.5}]}'
    assert codec.with_options(dtype="float32").decode_response(codec.encode_response(b)) == b
    assert codec.decode(codec.encode(smp.from_dense(np.ones((1, 2))))) == smp.from_dense(np.ones((1, 2)))
    with pytest.raises(smp.UnsupportedMediaTypeError) as ei:
        J.JsonCodec.from_params({"charset": "latin-1"})
    assert ei.value.status_hint == 415 and "latin-1" in str(ei.value)


# ======================================================================================
# Properties
# ======================================================================================


def _dtype_map(batch: smp.RecordBatch) -> dict[str, str]:
    """The dtype of every numeric column, by name (names shared by features and label must agree)."""
    out: dict[str, str] = {}
    for m in (batch.features, batch.label):
        for k, c in m.items():
            kind, dt, _ = smp.record.column_info(c)
            if kind == "strings":
                continue
            assume(out.get(k, str(dt)) == str(dt))
            out[k] = str(dt)
    return out


def _jsonable(batch: smp.RecordBatch) -> None:
    """Skip what the JSON formats cannot carry (see docs/formats/json.md)."""
    assume("features" not in batch.features)
    for m in (batch.features, batch.label):
        for c in m.values():
            if smp.record.column_info(c)[0] == "strings":
                # an entry that is text; a column of empty lists only reads back as numbers
                assume(any(isinstance(v, str) or (isinstance(v, list) and v) for v in c.tolist()))
    if batch.configuration is not None:
        for s in batch.configuration:
            if s is not None and s[:1] == "{":
                try:
                    parsed = orjson.loads(s)
                except orjson.JSONDecodeError:
                    continue
                assume(not isinstance(parsed, dict) or orjson.dumps(parsed).decode() == s)


def _roundtrip(batch: smp.RecordBatch, layout: JL.Layout | None) -> None:
    _jsonable(batch)
    dtypes = _dtype_map(batch)
    body = J.encode(batch, layout=layout, allow_nan=True)
    assert J.decode(body, dtype=dtypes, allow_nan=True) == batch


@given(record_batches(kinds=("dense", "ragged", "strings")))
def test_roundtrip_dense_layout(batch: smp.RecordBatch) -> None:
    _roundtrip(batch, "dense")


@given(record_batches(kinds=("dense", "sparse", "ragged", "strings")))
def test_roundtrip_protobuf_layout(batch: smp.RecordBatch) -> None:
    _roundtrip(batch, "protobuf")


@given(record_batches(kinds=("sparse", "ragged", "strings")))
def test_roundtrip_sparse_layout_and_default(batch: smp.RecordBatch) -> None:
    _roundtrip(batch, "sparse")
    _roundtrip(batch, None)


@given(
    st.sampled_from([np.float32, np.float64, np.int32]).flatmap(
        lambda dt: st.tuples(st.integers(1, 5), st.integers(0, 4)).flatmap(lambda s: arrays(np.dtype(dt), s))
    ),
    st.sampled_from(J.ENVELOPES),
)
def test_roundtrip_responses(y: np.ndarray, envelope: str) -> None:
    assume(y.dtype.kind != "f" or np.isfinite(y).all())
    b = smp.RecordBatch(label={"score": y[:, 0] if y.shape[1] else y, "probabilities": y})
    body = J.encode_response(b, envelope=envelope)
    assert J.decode_response(body, dtype=str(y.dtype)) == b


JSON_PIECES = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b'"instances"',
        b'"features"',
        b'"data"',
        b'"keys"',
        b'"shape"',
        b'"values"',
        b'"label"',
        b"1",
        b"-0.5e3",
        b"NaN",
        b"Infinity",
        b"null",
        b"true",
        b'"s"',
        b" ",
        b"\n",
        b"1e999",
        b'"configuration"',
        b'"uid"',
        b"[[",
        b"]]",
    ]
)


@given(st.one_of(st.lists(JSON_PIECES, max_size=40).map(b"".join), st.binary(max_size=200)))
@example(b"7")  # a bare number: a request of one record, a response of one item
def test_garbage_gives_only_decode_errors(data: bytes) -> None:
    """JSON-like tokens or any bytes, as requests and responses, with NaN allowed and not
    (test_codecs reads garbage with the default, allow_nan=False)."""
    for f in (J.decode, J.decode_response):
        for allow_nan in (False, True):
            try:
                f(data, allow_nan=allow_nan)
            except smp.DecodeError as e:
                assert e.offset is None or 0 <= e.offset <= len(data)


@given(record_batches(kinds=("dense", "sparse", "ragged", "strings"), max_records=3), st.data())
def test_mutated_payloads_give_only_decode_errors(batch: smp.RecordBatch, data: st.DataObject) -> None:
    assume("features" not in batch.features)
    body = bytearray(J.encode(batch, allow_nan=True))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(smp.DecodeError):
        J.decode(bytes(body), allow_nan=data.draw(st.booleans()))


# ======================================================================================
# The fast scanner agrees with the general path
# ======================================================================================

WS = st.sampled_from(["", " ", "\n", "  ", "\r\n"])


@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60), max_size=5),
        min_size=1,
        max_size=8,
    ),
    WS,
    WS,
    st.sampled_from(["instances", "bare", "predictions", "projections"]),
    st.sampled_from(["features", "in0", "score"]),
)
def test_fast_path_equals_general_path(rows: list, ws1: str, ws2: str, shape: str, name: str) -> None:
    def num(v: float | int) -> str:
        return json.dumps(v)

    items = [f"[{ws1}{(',' + ws2).join(num(v) for v in r)}{ws1}]" for r in rows]
    if shape == "bare":
        body = f"[{ws2}" + f",{ws1}".join(items) + f"{ws2}]"
    else:
        objs = [f'{{{ws1}"{name}"{ws2}:{ws1}{it}{ws2}}}' for it in items]
        body = f'{{"{shape}":{ws1}[' + f",{ws2}".join(objs) + f"]{ws1}}}"
    raw = body.encode()
    response = shape in ("predictions", "projections")
    fast = (J.decode_response if response else J.decode)(raw)
    scanned = JL.scan(
        raw,
        0,
        len(raw),
        JL.SCAN_ENVELOPE if response else JL.SCAN_BARE if shape == "bare" else JL.SCAN_INSTANCES,
    )
    assert scanned is not None
    doc = json.loads(body)
    items_ = JL.response_items(doc)[0] if response else JL.request_instances(doc)[0]
    parse = JL.response_record if response else JL.instance_record
    general = JL.batch_from_groups([JL.GeneralGroup([parse(x, "$") for x in items_])], CT, None)
    assert_batches_equal(fast, general)


# Regressions found by fuzzing and smp.testing (docs/reliability.md).


def test_response_output_named_empty_string_keeps_its_name() -> None:
    got = smp.decode_response(b'{"predictions":[{"":[1.0]}]}', "application/json")
    assert list(got.label) == [""]
    assert got.label[""].tolist() == [[1.0]]


@pytest.mark.parametrize(
    "body",
    [
        b'{"features":{"values":[1],"keys":[0],"shape":[18446744073709551615]}}',
        b'{"features":{"values":[],"keys":[],"shape":[4294967296,4294967296]}}',
        b'{"instances": [{"features": {"values": [], "shape": [1099511627776, 1099511627776]}}]}',
    ],
)
def test_sparse_shape_wider_than_int64_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/json")
    assert info.value.record_index == 0
    assert info.value.reason.startswith("features['values']: sparse shape [")
    assert info.value.reason.endswith("elements, more than 2**63 - 1")


def test_dense_shape_numpy_cannot_hold_is_a_decode_error() -> None:
    body = b'{"instances": [{"features": {"values": [], "shape": [0, 1099511627776, 1099511627776]}}]}'
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/json")
    assert info.value.record_index == 0
    assert info.value.reason == (
        "features['values']: shape [0, 1099511627776, 1099511627776] is too large for an array of 1 records"
    )
