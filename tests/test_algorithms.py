"""smp.algorithms: the built-in algorithms' response schemas, golden payloads, properties."""

from __future__ import annotations

import contextlib
import io
import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sagemaker.serializer_utils import read_records

import sm_payloads as smp
from sm_payloads import algorithms as alg
from sm_payloads.recordio import MAGIC_BYTES

from .helpers import assert_batches_equal

JSON = "application/json"
JSONL = "application/jsonlines"
RIO = "application/x-recordio-protobuf"
CSV = "text/csv"


def framed(payload: bytes) -> bytes:
    return MAGIC_BYTES + struct.pack("<I", len(payload)) + payload + b"\0" * (-len(payload) % 4)


# --------------------------------------------------------------------------------------
# Schemas and lookup
# --------------------------------------------------------------------------------------


def test_schema_names_and_envelopes() -> None:
    """docs/algorithms.md, "At a glance": the JSON envelope of each algorithm."""
    assert list(alg.SCHEMAS) == [
        "kmeans",
        "pca",
        "linear-learner",
        "factorization-machines",
        "ntm",
        "lda",
        "knn",
        "randomcutforest",
        "ipinsights",
        "object2vec",
    ]
    envelopes = {name: s.envelope for name, s in alg.SCHEMAS.items()}
    assert envelopes == {
        "kmeans": "predictions",
        "pca": "projections",
        "linear-learner": "predictions",
        "factorization-machines": "predictions",
        "ntm": "predictions",
        "lda": "predictions",
        "knn": "predictions",
        "randomcutforest": "scores",
        "ipinsights": "predictions",
        "object2vec": "predictions",
    }


def test_accept_types() -> None:
    """docs/algorithms.md, "At a glance": the response types (Accept) of each algorithm."""
    accept = {name: s.accept for name, s in alg.SCHEMAS.items()}
    assert accept == {
        "kmeans": (JSON, JSONL, RIO, CSV),
        "pca": (JSON, JSONL, RIO),
        "linear-learner": (JSON, JSONL, RIO),
        "factorization-machines": (JSON, JSONL, RIO),
        "ntm": (JSON, JSONL, RIO),
        "lda": (JSON, RIO),
        "knn": (JSON, JSONL, RIO),
        "randomcutforest": (JSON, JSONL, RIO),
        "ipinsights": (JSON, JSONL),
        "object2vec": (JSON, JSONL),
    }


def test_keys_and_kinds() -> None:
    """docs/algorithms.md, one section per algorithm: keys per variant, their kinds; every
    dtype is float32."""
    got = {
        (name, v.name): tuple((o.name, o.kind) for o in v.outputs)
        for name, s in alg.SCHEMAS.items()
        for v in s.variants
    }
    assert got == {
        ("kmeans", "default"): (("closest_cluster", "scalar"), ("distance_to_cluster", "scalar")),
        ("pca", "default"): (("projection", "vector"),),
        ("linear-learner", "binary_classifier"): (("score", "scalar"), ("predicted_label", "scalar")),
        ("linear-learner", "multiclass_classifier"): (("score", "vector"), ("predicted_label", "scalar")),
        ("linear-learner", "regressor"): (("score", "scalar"),),
        ("factorization-machines", "binary_classifier"): (("score", "scalar"), ("predicted_label", "scalar")),
        ("factorization-machines", "regressor"): (("score", "scalar"),),
        ("ntm", "default"): (("topic_weights", "vector"),),
        ("lda", "default"): (("topic_mixture", "vector"),),
        ("knn", "default"): (("predicted_label", "scalar"),),
        ("knn", "verbose"): (("predicted_label", "scalar"), ("distances", "vector"), ("labels", "vector")),
        ("randomcutforest", "default"): (("score", "scalar"),),
        ("ipinsights", "default"): (("dot_product", "scalar"),),
        ("ipinsights", "verbose"): (
            ("dot_product", "scalar"),
            ("entity_embedding", "vector"),
            ("ip_embedding", "vector"),
        ),
        ("object2vec", "classification"): (("scores", "vector"),),
        ("object2vec", "embedding"): (("embeddings", "vector"),),
    }
    assert {o.dtype for s in alg.SCHEMAS.values() for v in s.variants for o in v.outputs} == {
        np.dtype(np.float32)
    }
    assert [v.name for v in alg.get("knn").variants if v.verbose] == ["verbose"]
    assert alg.get("ipinsights").verbose and not alg.get("object2vec").verbose


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("K-Means", "kmeans"),
        ("k_means", "kmeans"),
        ("KMEANS", "kmeans"),
        ("linear_learner", "linear-learner"),
        ("LinearLearner", "linear-learner"),
        ("rcf", "randomcutforest"),
        ("Random Cut Forest", "randomcutforest"),
        ("factorization_machines", "factorization-machines"),
        ("fm", "factorization-machines"),
        ("k-NN", "knn"),
        ("IP-Insights", "ipinsights"),
        ("Object2Vec", "object2vec"),
        ("PCA", "pca"),
    ],
)
def test_lookup_aliases(alias: str, name: str) -> None:
    assert alg.get(alias) is alg.SCHEMAS[name]


def test_unknown_algorithm_lists_known_names() -> None:
    with pytest.raises(ValueError) as e:
        alg.get("xgboost")
    assert str(e.value) == (
        "unknown algorithm 'xgboost'; known: kmeans, pca, linear-learner, factorization-machines, "
        "ntm, lda, knn, randomcutforest, ipinsights, object2vec"
    )
    assert not isinstance(e.value, smp.PayloadError)


def test_schemas_are_read_only() -> None:
    with pytest.raises(TypeError):
        alg.SCHEMAS["x"] = alg.SCHEMAS["pca"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        alg.SCHEMAS["pca"].envelope = "predictions"  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# Golden payloads: decode with the algorithm, write back the same bytes
# --------------------------------------------------------------------------------------

# (source, algorithm, media type, exact body as AWS prints it)
EXACT: list[tuple[str, str, str, bytes]] = [
    (
        "real k-means JSON (Developer Guide, 'Step 3.5: Validate the Model', 2019)",
        "kmeans",
        JSON,
        b'{"predictions": [{"distance_to_cluster": 7.2033820152282715, "closest_cluster": 7.0}]}',
    ),
    (
        "k-means JSON, two records (Developer Guide, 'K-Means Response Formats')",
        "kmeans",
        JSON,
        b'{"predictions": [{"closest_cluster": 1.0, "distance_to_cluster": 3.0}, '
        b'{"closest_cluster": 2.0, "distance_to_cluster": 5.0}]}',
    ),
    (
        "k-means JSON Lines (Developer Guide, 'Common Data Formats for Inference')",
        "kmeans",
        JSONL,
        b'{"distance_to_cluster": 23.40593910217285, "closest_cluster": 0.0}\n'
        b'{"distance_to_cluster": 27.250282287597656, "closest_cluster": 0.0}\n',
    ),
    ("k-means CSV (Developer Guide, 'K-Means Response Formats')", "kmeans", CSV, b"1.0,3.0\n2.0,5.0\n"),
    (
        "PCA JSON (Developer Guide, 'PCA Response Formats')",
        "pca",
        JSON,
        b'{"projections": [{"projection": [1.0, 2.0, 3.0, 4.0, 5.0]}, '
        b'{"projection": [6.0, 7.0, 8.0, 9.0, 0.0]}]}',
    ),
    (
        "PCA JSON Lines (Developer Guide, 'PCA Response Formats')",
        "pca",
        JSONL,
        b'{"projection": [1.0, 2.0, 3.0, 4.0, 5.0]}\n',
    ),
    (
        "real Linear Learner multiclass JSON (third-party, docs/algorithms.md)",
        "linear-learner",
        JSON,
        b'{"predictions": [{"score": [0.9913098216056824, 0.008546961471438408, 0.000143218640005216], '
        b'"predicted_label": 0.0}]}',
    ),
    (
        "real Factorization Machines binary JSON (third-party, docs/algorithms.md)",
        "factorization-machines",
        JSON,
        b'{"predictions": [{"score": 0.9999101161956787, "predicted_label": 1.0}, '
        b'{"score": 0.8490985631942749, "predicted_label": 1.0}, {"score": 1.0, "predicted_label": 1.0}]}',
    ),
    (
        "NTM JSON (Developer Guide, 'NTM Response Formats')",
        "ntm",
        JSON,
        b'{"predictions": [{"topic_weights": [0.02, 0.1, 0.0]}, {"topic_weights": [0.25, 0.067, 0.0]}]}',
    ),
    (
        "LDA JSON (amazon-sagemaker-examples, LDA-Introduction.ipynb)",
        "lda",
        JSON,
        b'{"predictions": [{"topic_mixture": [0.3, 0.2, 0.0, 0.5, 0.0]}]}',
    ),
    (
        "k-NN JSON (Developer Guide, 'k-NN Request and Response Formats')",
        "knn",
        JSON,
        b'{"predictions": [{"predicted_label": 0.0}, {"predicted_label": 2.0}]}',
    ),
    (
        "k-NN JSON Lines (Developer Guide, 'K-Nearest Neighbors (k-NN) Algorithm')",
        "knn",
        JSONL,
        b'{"predicted_label": 0.0}\n',
    ),
    (
        "Random Cut Forest JSON (Developer Guide, 'RCF Response Formats')",
        "randomcutforest",
        JSON,
        b'{"scores": [{"score": 0.02}, {"score": 0.25}]}',
    ),
    (
        "Random Cut Forest JSON Lines (Developer Guide, 'RCF Response Formats', trailing commas removed)",
        "randomcutforest",
        JSONL,
        b'{"score": 0.02}\n{"score": 0.25}\n',
    ),
    (
        "IP Insights JSON (Developer Guide, 'IP Insights Inference Data Formats')",
        "ipinsights",
        JSON,
        b'{"predictions": [{"dot_product": 0.0}, {"dot_product": 2.0}]}',
    ),
    (
        "Object2Vec JSON (Developer Guide, 'Data Formats for Object2Vec Inference')",
        "object2vec",
        JSON,
        b'{"predictions": [{"scores": [0.6533935070037842, 0.07582679390907288, 0.2707797586917877]}, '
        b'{"scores": [0.026291321963071823, 0.6577019095420837, 0.31600672006607056]}]}',
    ),
    (
        "Object2Vec JSON Lines, compact (Developer Guide, 'Data Formats for Object2Vec Inference')",
        "object2vec",
        JSONL,
        b'{"scores":[0.195667684078216,0.395351558923721,0.408980727195739]}\n'
        b'{"scores":[0.251988261938095,0.258233487606048,0.489778339862823]}\n'
        b'{"scores":[0.280087798833847,0.368331134319305,0.351581096649169]}\n',
    ),
]

# Printed over several lines in the docs (or with ints): equal after parsing.
PARSED: list[tuple[str, str, str, bytes]] = [
    (
        "k-means single record, ints as printed (Developer Guide, 'Common Data Formats for Inference')",
        "kmeans",
        JSON,
        b'{"predictions": [{"closest_cluster": 5, "distance_to_cluster": 36.5}]}',
    ),
    (
        "k-means multi-record, ints as printed (Developer Guide, 'Common Data Formats for Inference')",
        "kmeans",
        JSON,
        b'{"predictions": [{"closest_cluster": 5, "distance_to_cluster": 36.5},\n'
        b' {"closest_cluster": 2, "distance_to_cluster": 90.3}]}',
    ),
    (
        "Linear Learner binary, int label as printed (Developer Guide, 'Linear learner response formats')",
        "linear-learner",
        JSON,
        b'{"predictions": [{"score": 0.4, "predicted_label": 0}]}',
    ),
    (
        "Linear Learner multiclass (Developer Guide, 'Linear learner response formats')",
        "linear-learner",
        JSON,
        b'{"predictions": [{"score": [0.1, 0.2, 0.4, 0.3], "predicted_label": 2}]}',
    ),
    (
        "Linear Learner regressor (Developer Guide, 'Linear learner response formats')",
        "linear-learner",
        JSON,
        b'{"predictions": [{"score": 0.4}]}',
    ),
    (
        "Factorization Machines JSON Lines (Developer Guide, 'Factorization Machines Response Formats')",
        "factorization-machines",
        JSONL,
        b'{"score": 0.4, "predicted_label": 0}\n',
    ),
    (
        "FM regressor JSON Lines (Developer Guide, 'Factorization Machines Response Formats')",
        "factorization-machines",
        JSONL,
        b'{"score": 0.4}\n',
    ),
    (
        "k-NN verbose JSON, k = 3 (Developer Guide, 'k-NN Request and Response Formats')",
        "knn",
        JSON,
        b'{"predictions": [\n'
        b'  {"predicted_label": 0.0, "distances": [3.11792408, 3.89746071, 6.32548437],\n'
        b'   "labels": [0.0, 1.0, 0.0]},\n'
        b'  {"predicted_label": 2.0, "distances": [1.08470316, 3.04917915, 5.25393973],\n'
        b'   "labels": [2.0, 2.0, 0.0]}\n'
        b"]}",
    ),
    (
        "IP Insights verbose JSON (Developer Guide, 'IP Insights Inference Data Formats')",
        "ipinsights",
        JSON,
        b'{"predictions": [\n'
        b'  {"dot_product": 0.0, "entity_embedding": [1.0, 0.0, 0.0], "ip_embedding": [0.0, 1.0, 0.0]},\n'
        b'  {"dot_product": 2.0, "entity_embedding": [1.0, 0.0, 1.0], "ip_embedding": [1.0, 0.0, 1.0]}\n'
        b"]}",
    ),
    (
        "Object2Vec embeddings JSON (Developer Guide, 'Encoder Embeddings for Object2Vec')",
        "object2vec",
        JSON,
        b'{"predictions": [\n'
        b'  {"embeddings": [0.057368703186511, 0.030703511089086, 0.099890425801277, 0.063688032329082, '
        b"0.026327300816774, 0.003637571120634, 0.021305780857801, 0.004316598642617, 0.0, "
        b"0.003397724591195, 0.0, 0.000378780066967, 0.0, 0.0, 0.0, 0.007419463712722]},\n"
        b'  {"embeddings": [0.150190666317939, 0.05145975202322, 0.098204270005226, 0.064249359071254, '
        b"0.056249320507049, 0.01513972133398, 0.047553978860378, 0.0, 0.0, 0.011533712036907, "
        b"0.011472506448626, 0.010696629062294, 0.0, 0.0, 0.0, 0.008508535102009]}\n"
        b"]}",
    ),
]


def _verbose(ct: str, batch: smp.RecordBatch) -> str:
    """The Accept that asks for what `batch` holds (k-NN and IP Insights verbose)."""
    return ct + ("; verbose=true" if {"distances", "entity_embedding"} & set(batch.label) else "")


@pytest.mark.parametrize(("source", "algorithm", "ct", "body"), EXACT, ids=[c[0] for c in EXACT])
def test_golden_exact_bytes(source: str, algorithm: str, ct: str, body: bytes) -> None:
    batch = alg.decode_response(body, ct, algorithm)
    assert alg.encode_response(batch, _verbose(ct, batch), algorithm) == body


@pytest.mark.parametrize(("source", "algorithm", "ct", "body"), PARSED, ids=[c[0] for c in PARSED])
def test_golden_equal_after_parsing(source: str, algorithm: str, ct: str, body: bytes) -> None:
    batch = alg.decode_response(body, ct, algorithm)
    out = alg.encode_response(batch, _verbose(ct, batch), algorithm)
    if ct == JSON:
        assert json.loads(out) == json.loads(body)
    else:
        assert [json.loads(x) for x in out.splitlines()] == [json.loads(x) for x in body.splitlines()]
    # and the output is the algorithm's own spelling: floats, Python json separators
    again = alg.decode_response(out, ct, algorithm)
    assert alg.encode_response(again, _verbose(ct, again), algorithm) == out


@pytest.mark.parametrize(
    ("source", "algorithm", "ct", "body"), EXACT + PARSED, ids=[c[0] for c in EXACT + PARSED]
)
def test_golden_decodes_without_algorithm(source: str, algorithm: str, ct: str, body: bytes) -> None:
    """docs/algorithms.md, "Reading": decoding without a schema accepts every documented
    envelope."""
    with_schema = alg.decode_response(body, ct, algorithm)
    if ct == CSV:
        inferred = smp.decode_response(body, ct)
        assert inferred.label["values"].tolist() == np.column_stack(list(with_schema.label.values())).tolist()
        return
    assert_batches_equal(smp.decode_response(body, ct), with_schema)


def test_golden_values_kmeans_real() -> None:
    """docs/algorithms.md, "k-means": the real answer of the Developer Guide's 2019
    tutorial page "Step 3.5: Validate the Model"; exact values and dtypes (text → float64)."""
    b = alg.decode_response(EXACT[0][3], JSON, "k-means")
    assert list(b.label) == ["distance_to_cluster", "closest_cluster"]
    assert b.label["closest_cluster"].tolist() == [7.0]
    assert b.label["distance_to_cluster"].tolist() == [7.2033820152282715]
    assert b.label["closest_cluster"].dtype == np.float64
    s = alg.decode_response(EXACT[0][3], JSON, "k-means", dtype="schema")
    assert s.label["distance_to_cluster"].dtype == np.float32
    assert float(s.label["distance_to_cluster"][0]) == 7.2033820152282715  # a float32 value, widened


def test_golden_kmeans_csv_columns() -> None:
    """docs/algorithms.md, "k-means": CSV rows are closest_cluster,distance_to_cluster."""
    b = alg.decode_response(b"1.0,3.0\n2.0,5.0\n", CSV, "kmeans")
    assert b.label["closest_cluster"].tolist() == [1.0, 2.0]
    assert b.label["distance_to_cluster"].tolist() == [3.0, 5.0]
    # the schema's order, whatever order the batch has
    swapped = smp.RecordBatch(
        label={
            "distance_to_cluster": np.array([3.0], np.float32),
            "closest_cluster": np.array([1.0], np.float32),
        }
    )
    assert alg.encode_response(swapped, CSV, "kmeans") == b"1.0,3.0\n"


GOLDEN_KMEANS = bytes.fromhex(
    "121f0a1364697374616e63655f746f5f636c7573746572120812060a0400001242"
    "121b0a0f636c6f736573745f636c7573746572120812060a040000a040"
)
GOLDEN_PCA = bytes.fromhex("121a0a0a70726f6a656374696f6e120c120a0a080000803f00000040")


def test_golden_recordio_kmeans() -> None:
    """docs/formats/recordio-protobuf.md: the k-means response record, label
    {closest_cluster: [5.0], distance_to_cluster: [36.5]}, 62 bytes, 2 pad bytes, as
    protobuf-python writes it from the SDK's record.proto (its map order)."""
    rows = [{"distance_to_cluster": 36.5, "closest_cluster": 5}]
    body = alg.encode_response(rows, RIO, "kmeans")
    assert body == bytes.fromhex("0a23d7ce3e000000") + GOLDEN_KMEANS + b"\0\0"
    b = alg.decode_response(body, RIO, "kmeans")
    assert b.label["closest_cluster"].dtype == np.float32
    assert b.label["closest_cluster"].tolist() == [5.0]
    # one such Record per input; JSON from the same batch is what k-means writes
    assert alg.encode_response(b, JSON, "kmeans") == (
        b'{"predictions": [{"distance_to_cluster": 36.5, "closest_cluster": 5.0}]}'
    )


def test_golden_recordio_pca() -> None:
    """docs/algorithms.md, "PCA": label["projection"] = Float32Tensor [1.0, 2.0]."""
    body = alg.encode_response([{"projection": [1.0, 2.0]}], RIO, "pca")
    assert body == framed(GOLDEN_PCA)
    assert alg.decode_response(body, RIO, "pca").label["projection"].tolist() == [[1.0, 2.0]]


def test_recordio_matches_sdk_reader() -> None:
    """The SDK's read_records parses our k-NN verbose response: one Record per input,
    label only, every value a Float32Tensor (docs/algorithms.md, "At a glance" and "k-NN")."""
    rows = [
        {
            "predicted_label": 0.0,
            "distances": [3.11792408, 3.89746071, 6.32548437],
            "labels": [0.0, 1.0, 0.0],
        },
        {
            "predicted_label": 2.0,
            "distances": [1.08470316, 3.04917915, 5.25393973],
            "labels": [2.0, 2.0, 0.0],
        },
    ]
    body = alg.encode_response(
        smp.RecordBatch(
            label={
                k: np.array([r[k] for r in rows], np.float32)
                for k in ("predicted_label", "distances", "labels")
            }
        ),
        RIO + "; verbose=true",
        "knn",
    )
    records = read_records(io.BytesIO(body))
    assert len(records) == 2
    for rec, row in zip(records, rows, strict=True):
        assert len(rec.features) == 0
        assert set(rec.label) == {"predicted_label", "distances", "labels"}
        for key, want in row.items():
            t = rec.label[key]
            assert t.WhichOneof("value") == "float32_tensor"
            assert list(t.float32_tensor.values) == np.asarray(want, np.float32).reshape(-1).tolist()
            assert list(t.float32_tensor.shape) == []


def test_kmeans_doc_single_record_with_two_inputs_is_rejected() -> None:
    """docs/algorithms.md, "Where sources disagree": the "K-Means Response Formats" page packs
    two inputs into one Record (values [1.0, 2.0] / [3.0, 5.0]); k-means writes one Record
    per input."""
    one = smp.RecordBatch(
        label={
            "closest_cluster": np.array([[1.0, 2.0]], np.float32),
            "distance_to_cluster": np.array([[3.0, 5.0]], np.float32),
        }
    )
    with pytest.raises(smp.DecodeError) as e:
        alg.decode_response(smp.encode_response(one, RIO), RIO, "kmeans")
    assert e.value.reason == (
        "'closest_cluster' must be one number per record (scalar), got vector; "
        "k-means (default) writes closest_cluster, distance_to_cluster"
    )
    assert e.value.record_index == 0


# --------------------------------------------------------------------------------------
# Negotiation and schema violations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "accept", "supported", "reason"),
    [
        (
            "linear-learner",
            "text/csv",
            (JSON, JSONL, RIO),
            "Linear Learner does not write text/csv",
        ),
        ("ipinsights", RIO, (JSON, JSONL), "IP Insights does not write application/x-recordio-protobuf"),
        ("lda", "application/x-jsonlines", (JSON, RIO), "LDA does not write application/jsonlines"),
        ("object2vec", "application/x-npy", (JSON, JSONL), "Object2Vec does not write application/x-npy"),
        (
            "knn",
            "application/json; verbose=maybe",
            (JSON, JSONL, RIO),
            "verbose must be true or false, got 'maybe'",
        ),
    ],
)
def test_not_acceptable(algorithm: str, accept: str, supported: tuple[str, ...], reason: str) -> None:
    with pytest.raises(smp.NotAcceptableError) as e:
        alg.encode_response([{"score": 1.0}], accept, algorithm)
    assert (e.value.accept, e.value.supported, e.value.reason) == (accept, supported, reason)
    assert e.value.status_hint == 406


def test_not_acceptable_message() -> None:
    with pytest.raises(smp.NotAcceptableError) as e:
        alg.encode_response([{"score": 1.0}], "text/csv", "rcf")
    assert str(e.value) == (
        "Accept 'text/csv': Random Cut Forest does not write text/csv; supported: "
        "application/json, application/jsonlines, application/x-recordio-protobuf"
    )


def test_decode_unsupported_type() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        alg.decode_response(b"1.0\n", "text/csv", "pca")
    assert e.value.supported == (JSON, JSONL, RIO)
    assert e.value.reason == "PCA does not write text/csv"


def test_alias_of_a_format_no_algorithm_writes_is_named_as_written() -> None:
    with pytest.raises(smp.NotAcceptableError) as e:
        alg.encode_response([{"score": 1.0}], "text/x-libsvm", "kmeans")
    assert e.value.reason == "k-means does not write text/x-libsvm"


def test_parameters_reach_the_codec_without_verbose() -> None:
    # the registry's codec reads the media type's parameters; verbose is the algorithm's
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        alg.encode_response(
            [{"closest_cluster": 1.0, "distance_to_cluster": 2.0}],
            "text/csv; verbose=true; charset=latin1",
            "kmeans",
        )
    assert (e.value.content_type, e.value.supported) == ("text/csv; charset=latin1", (CSV,))
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        alg.decode_response(b"{}", "application/json; charset=latin1; verbose=true", "knn")
    assert e.value.reason == "charset 'latin1' is not supported (JSON is UTF-8)"


def test_csv_header_parameter() -> None:
    # k-means writes no header row whatever the Accept says; a header row is read when given
    kmeans = [{"closest_cluster": 1.0, "distance_to_cluster": 2.0}]
    assert alg.encode_response(kmeans, "text/csv; header=present", "kmeans") == b"1.0,2.0\n"
    b = alg.decode_response(
        b"closest_cluster,distance_to_cluster\n1,2\n", "text/csv; header=present", "kmeans"
    )
    assert {k: v.tolist() for k, v in b.label.items()} == {
        "closest_cluster": [1.0],
        "distance_to_cluster": [2.0],
    }


def test_the_codec_comes_from_the_registry() -> None:
    from dataclasses import dataclass

    from sm_payloads.formats.jsonlines import JsonLinesCodec

    @dataclass(frozen=True, slots=True)
    class Marked(JsonLinesCodec):
        def encode_response(self, data: smp.RecordBatch, /) -> bytes:
            return b"#" + JsonLinesCodec.encode_response(self, data)

    score = [{"score": 0.5}]
    assert alg.encode_response(score, JSONL, "rcf") == b'{"score": 0.5}\n'
    smp.register_codec(Marked, replace=True)
    try:
        assert alg.encode_response(score, JSONL, "rcf") == b'#{"score": 0.5}\n'
    finally:
        smp.register_codec(JsonLinesCodec, replace=True)
    assert alg.encode_response(score, JSONL, "rcf") == b'{"score": 0.5}\n'


@pytest.mark.parametrize(
    ("algorithm", "accept", "data", "column", "reason"),
    [
        (
            "kmeans",
            JSON,
            [{"closest_cluster": 1.0}],
            "label['distance_to_cluster']",
            "missing output; k-means (default) writes closest_cluster, distance_to_cluster",
        ),
        (
            "kmeans",
            JSON,
            [{"closest_cluster": 1.0, "distance_to_cluster": 2.0, "extra": 3.0}],
            "label['extra']",
            "unexpected output; k-means (default) writes closest_cluster, distance_to_cluster",
        ),
        (
            "randomcutforest",
            JSONL,
            [{"score": [0.1, 0.2]}],
            "label['score']",
            "must be one number per record (scalar), got vector; Random Cut Forest (default) writes score",
        ),
        (
            "pca",
            RIO,
            [{"projection": 1.0}],
            "label['projection']",
            "must be a list of numbers per record (vector), got scalar; PCA (default) writes projection",
        ),
        (
            "pca",
            JSON,
            [{"projection": [1.0]}, {"projection": [1.0, 2.0]}],
            "label['projection']",
            "must be a list of numbers per record (vector), got vectors of different lengths; "
            "PCA (default) writes projection",
        ),
        (
            "knn",
            JSON,
            [{"predicted_label": 1.0, "distances": [1.0], "labels": [1.0]}],
            "label['distances']",
            "unexpected output; k-NN (default) writes predicted_label",
        ),
        (
            "linear-learner",
            JSON,
            [{"predicted_label": 1.0}],
            "label['score']",
            "missing output; Linear Learner writes one of: binary_classifier: score, predicted_label; "
            "multiclass_classifier: score, predicted_label; regressor: score",
        ),
    ],
)
def test_schema_violations(algorithm: str, accept: str, data: Any, column: str, reason: str) -> None:
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response(data, accept, algorithm)
    assert (e.value.column, e.value.reason, e.value.content_type) == (column, reason, accept)


def test_strings_are_not_an_output_kind() -> None:
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response([{"score": "high"}], JSON, "rcf")
    assert e.value.column == "label['score']"
    assert "got strings" in e.value.reason


def test_features_are_not_outputs() -> None:
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response(smp.from_dense(np.ones((2, 3))), JSON, "pca")
    assert e.value.column == "features['values']"
    # an array given as a response is the output label["values"], which PCA does not write
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response(np.ones((2, 3)), JSON, "pca")
    assert e.value.column == "label['projection']"


def test_recordio_refuses_to_round() -> None:
    """Float32Tensor only: a float64 value float32 cannot hold is an error, not rounded."""
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response([{"score": 0.02}], RIO, "rcf")
    assert e.value.column == "label['score']"
    assert e.value.reason.startswith("value 0.02 (record 0) is not a float32")
    ok = alg.encode_response([{"score": np.float32(0.02)}], RIO, "rcf")
    assert alg.decode_response(ok, RIO, "rcf").label["score"].tolist() == [np.float32(0.02).item()]
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response([{"score": 2**24 + 1}], RIO, "rcf")
    assert type(e.value) is smp.EncodeError
    assert (e.value.content_type, e.value.column, e.value.reason) == (
        RIO,
        "label['score']",
        "value 16777217 (record 0) is not a float32; the algorithm writes Float32Tensors: "
        "convert with .astype(np.float32) if rounding is intended",
    )
    assert alg.decode_response(alg.encode_response([{"score": 2**24}], RIO, "rcf"), RIO, "rcf").label[
        "score"
    ].tolist() == [16777216.0]


def test_nan_needs_allow_nan() -> None:
    rows = smp.RecordBatch(label={"score": np.array([np.nan, np.inf], np.float32)})
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response(rows, JSON, "rcf")
    assert e.value.column == "label['score']"
    body = alg.encode_response(rows, JSON, "rcf", allow_nan=True)
    assert body == b'{"scores": [{"score": NaN}, {"score": Infinity}]}'
    back = alg.decode_response(body, JSON, "rcf", allow_nan=True).label["score"]
    assert np.isnan(back[0]) and back[1] == np.inf


def test_verbose_selects_variant() -> None:
    """docs/algorithms.md, "k-NN", "IP Insights": verbose=true / verbose=True both select
    verbose."""
    rows = [{"dot_product": 0.5, "entity_embedding": [1.0, 0.0], "ip_embedding": [0.0, 1.0]}]
    for accept in (JSON + "; verbose=True", JSON + ";verbose=true", "application/JSON; VERBOSE=TRUE"):
        assert alg.encode_response(rows, accept, "ipinsights") == (
            b'{"predictions": [{"dot_product": 0.5, "entity_embedding": [1.0, 0.0], '
            b'"ip_embedding": [0.0, 1.0]}]}'
        )
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response([{"dot_product": 0.5}], JSON + "; verbose=true", "ipinsights")
    assert e.value.column == "label['entity_embedding']"
    # decoding reads either variant unless the type says which
    body = alg.encode_response(rows, JSON + "; verbose=true", "ipinsights")
    assert list(alg.decode_response(body, JSON, "ipinsights").label) == [
        "dot_product",
        "entity_embedding",
        "ip_embedding",
    ]
    with pytest.raises(smp.DecodeError) as d:
        alg.decode_response(body, JSON + "; verbose=false", "ipinsights")
    assert type(d.value) is smp.DecodeError
    assert (d.value.reason, d.value.record_index, d.value.offset, d.value.line) == (
        "unexpected key 'entity_embedding'; IP Insights (default) writes dot_product",
        0,
        body.index(b'"entity_embedding"'),  # the key
        None,
    )


def test_explicit_variant() -> None:
    rows = [{"score": 0.4, "predicted_label": 0.0}]
    assert alg.encode_response(rows, JSON, "ll", variant="binary_classifier") == (
        b'{"predictions": [{"score": 0.4, "predicted_label": 0.0}]}'
    )
    with pytest.raises(smp.EncodeError) as e:
        alg.encode_response(rows, JSON, "ll", variant="multiclass_classifier")
    assert e.value.column == "label['score']"
    with pytest.raises(ValueError, match="has no variant 'softmax'"):
        alg.encode_response(rows, JSON, "ll", variant="softmax")
    with pytest.raises(smp.DecodeError) as d:
        alg.decode_response(b'{"predictions": [{"score": 0.4}]}', JSON, "ll", variant="binary_classifier")
    assert type(d.value) is smp.DecodeError
    assert (d.value.reason, d.value.record_index, d.value.offset, d.value.line) == (
        "no 'predicted_label'; Linear Learner (binary_classifier) writes score, predicted_label",
        0,
        17,  # the record: {"score": 0.4}
        None,
    )


def test_linear_learner_variant_is_inferred_from_kinds() -> None:
    binary = alg.decode_response(b'{"predictions": [{"score": 0.5, "predicted_label": 0.0}]}', JSON, "ll")
    multi = alg.decode_response(
        b'{"predictions": [{"score": [0.25, 0.75], "predicted_label": 1.0}]}', JSON, "ll"
    )
    assert binary.label["score"].shape == (1,) and multi.label["score"].shape == (1, 2)
    assert {k: (v.dtype, v.tolist()) for k, v in binary.label.items()} == {
        "score": (np.float64, [0.5]),
        "predicted_label": (np.float64, [0.0]),
    }
    assert {k: (v.dtype, v.tolist()) for k, v in multi.label.items()} == {
        "score": (np.float64, [[0.25, 0.75]]),
        "predicted_label": (np.float64, [1.0]),
    }
    # RecordIO cannot say "scalar": a one-value score is binary, several values multiclass.
    # Its tensors are float32 here (0.5, 0.25 and 0.75 are exact in float32).
    for b, score, label in ((binary, [0.5], [0.0]), (multi, [[0.25, 0.75]], [1.0])):
        rio = alg.decode_response(alg.encode_response(b, RIO, "ll"), RIO, "ll")
        assert rio.label["score"].shape == b.label["score"].shape
        assert {k: (v.dtype, v.tolist()) for k, v in rio.label.items()} == {
            "score": (np.float32, score),
            "predicted_label": (np.float32, label),
        }


def test_one_value_vectors_survive_recordio() -> None:
    """A PCA with one component writes one-value tensors without shape; reading with the
    schema gives the vector back (without it, the RecordIO rule reads a scalar)."""
    body = alg.encode_response([{"projection": [1.5]}, {"projection": [2.5]}], RIO, "pca")
    assert alg.decode_response(body, RIO, "pca").label["projection"].tolist() == [[1.5], [2.5]]
    assert smp.decode_response(body, RIO).label["projection"].tolist() == [1.5, 2.5]


def test_object2vec_regression_scores_are_lists() -> None:
    """docs/algorithms.md, "Object2Vec": regression answers scores with one value."""
    assert (
        alg.encode_response([{"scores": [0.5]}], JSON, "object2vec")
        == b'{"predictions": [{"scores": [0.5]}]}'
    )
    assert alg.encode_response([{"scores": [0.5]}], JSONL, "object2vec") == b'{"scores":[0.5]}\n'
    assert alg.encode_response([{"scores": [0.5]}], JSONL, "object2vec", compact=False) == (
        b'{"scores": [0.5]}\n'
    )
    with pytest.raises(smp.DecodeError) as d:
        alg.decode_response(b'{"predictions": [{"scores": 0.5}]}', JSON, "object2vec")
    assert type(d.value) is smp.DecodeError
    assert (d.value.reason, d.value.record_index, d.value.offset, d.value.line) == (
        "'scores' must be a list of numbers per record (vector), got scalar; Object2Vec writes one of: "
        "classification: scores; embedding: embeddings",
        0,
        17,  # the record: {"scores": 0.5}
        None,
    )


# --------------------------------------------------------------------------------------
# Decoding: what is not the algorithm's shape
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "ct", "body", "message"),
    [
        (
            "pca",
            JSON,
            b'{"predictions": [{"projection": [1.0]}]}',
            'application/json: PCA writes {"projections": [...]}; '
            "found top-level key 'predictions' at byte 0",
        ),
        (
            "kmeans",
            JSON,
            b'[{"closest_cluster": 1.0, "distance_to_cluster": 2.0}]',
            'application/json: k-means writes {"predictions": [...]}; found no JSON object at byte 0',
        ),
        (
            "randomcutforest",
            JSON,
            b'{"scores": [0.1, 0.2]}',
            'application/json: Random Cut Forest writes {"scores": [...]} with one object per record '
            "and no other top-level key at byte 0",
        ),
        (
            "pca",
            JSON,
            b'{"projections": [{"projection": 1.0}]}',
            "application/json: 'projection' must be a list of numbers per record (vector), got scalar; "
            "PCA (default) writes projection at byte 17 (record 0)",
        ),
        (
            "object2vec",
            JSON,
            b'{"predictions": [{"scores": [0.5]}, {"scores": 0.5}]}',
            "application/json: 'scores' mixes numbers and lists across records; Object2Vec writes one "
            "of: classification: scores; embedding: embeddings at byte 36 (record 1)",
        ),
        (
            "object2vec",
            JSONL,
            b'{"scores": 0.5}\n{"scores": 0.5}\n{"scores": [0.5]}\n',
            "application/jsonlines: 'scores' mixes numbers and lists across records; Object2Vec writes "
            "one of: classification: scores; embedding: embeddings at byte 32 (record 2)",
        ),
        (
            "pca",
            JSONL,
            b'{"projection": [1.0]}\n{"projection": [1.0, 2.0]}\n',
            "application/jsonlines: 'projection' must be a list of numbers per record (vector), got vectors "
            "of different lengths; PCA (default) writes projection at byte 22 (record 1)",
        ),
        (
            "kmeans",
            JSONL,
            b'{"closest_cluster": 1.0, "distance_to_cluster": 2.0}\n{"closest_cluster": 1.0}\n',
            "application/jsonlines: 'distance_to_cluster' is missing; k-means (default) writes "
            "closest_cluster, distance_to_cluster at byte 53 (record 1)",
        ),
        (
            "randomcutforest",
            JSONL,
            b'{"score": 1.0}\n{"score": 1.0, "x": 2.0}\n',
            "application/jsonlines: unexpected key 'x'; Random Cut Forest (default) writes score "
            "at byte 30 (record 1)",
        ),
        (
            "kmeans",
            CSV,
            b"1.0\n",
            "text/csv: 2 keys ['closest_cluster', 'distance_to_cluster'] for rows of 1 field(s) "
            "at line 1 (byte 0, record 0)",
        ),
        (
            "randomcutforest",
            RIO,
            framed(GOLDEN_KMEANS),
            "application/x-recordio-protobuf: no 'score'; "
            "Random Cut Forest (default) writes score at record 0",
        ),
    ],
)
def test_decode_rejects(algorithm: str, ct: str, body: bytes, message: str) -> None:
    with pytest.raises(smp.DecodeError) as e:
        alg.decode_response(body, ct, algorithm)
    assert str(e.value) == message


def test_decode_rejects_features_in_recordio() -> None:
    body = smp.encode_request(np.ones((1, 2), np.float32), RIO)
    with pytest.raises(smp.DecodeError) as e:
        alg.decode_response(body, RIO, "pca")
    assert e.value.reason == "PCA responses have an empty features map; found features['values']"


def test_empty_responses() -> None:
    for ct in (JSONL, CSV, RIO):
        b = alg.decode_response(b"", ct, "kmeans")
        assert len(b) == 0 and list(b.label) == ["closest_cluster", "distance_to_cluster"]
    b = alg.decode_response(b'{"projections": []}', JSON, "pca")
    assert b.label["projection"].shape == (0, 0)
    assert alg.encode_response(b, JSON, "pca") == b'{"projections": []}'
    assert alg.encode_response(b, JSONL, "pca") == b""


# --------------------------------------------------------------------------------------
# Properties: every algorithm, every variant, every Accept type
# --------------------------------------------------------------------------------------

CASES = [(s.name, v.name, ct) for s in alg.SCHEMAS.values() for v in s.variants for ct in s.accept]


@st.composite
def variant_batches(draw: Any, algorithm: str, variant: str) -> smp.RecordBatch:
    schema = alg.get(algorithm)
    var = schema.variant(variant)
    n = draw(st.integers(0, 5))
    min_k = 2 if algorithm == "linear-learner" else 1  # a one-class multiclass reads as binary in RecordIO
    k = {o.name: draw(st.integers(min_k, 4)) for o in var.outputs if o.kind == "vector"}
    floats = st.floats(width=32, allow_nan=False, allow_infinity=False)
    label: dict[str, Any] = {}
    for o in draw(st.permutations(var.outputs)):
        shape = (n,) if o.kind == "scalar" else (n, k[o.name])
        label[o.name] = np.array(
            draw(st.lists(floats, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))), np.float32
        ).reshape(shape)
    return smp.RecordBatch(label=label, n=n)


@pytest.mark.parametrize(("algorithm", "variant", "ct"), CASES, ids=["-".join(c) for c in CASES])
@given(data=st.data())
def test_round_trip(algorithm: str, variant: str, ct: str, data: st.DataObject) -> None:
    batch = data.draw(variant_batches(algorithm, variant))
    schema = alg.get(algorithm)
    accept = ct + ("; verbose=true" if schema.variant(variant).verbose else "")
    body = alg.encode_response(batch, accept, algorithm)
    back = alg.decode_response(body, ct, algorithm)
    assert len(back) == len(batch)
    if len(batch):
        keys = list(batch.label) if ct != CSV else list(schema.csv_keys)
        assert list(back.label) == keys
        for key in keys:
            got = back.label[key]
            assert got.dtype == (np.float32 if ct == RIO else np.float64)
            assert got.shape == batch.label[key].shape
            assert np.array_equal(got, batch.label[key].astype(got.dtype))
    # what we read writes back byte for byte
    assert alg.encode_response(back, accept, algorithm) == body
    # and the schema's dtypes on request
    typed = alg.decode_response(body, ct, algorithm, dtype="schema")
    assert all(c.dtype == np.float32 for c in typed.label.values())


@pytest.mark.parametrize(("algorithm", "variant", "ct"), CASES, ids=["-".join(c) for c in CASES])
@given(data=st.data())
def test_without_algorithm_same_values(algorithm: str, variant: str, ct: str, data: st.DataObject) -> None:
    """smp.decode_response infers the same outputs (vectors of one value in RecordIO and
    CSV's column names aside)."""
    batch = data.draw(variant_batches(algorithm, variant))
    schema = alg.get(algorithm)
    accept = ct + ("; verbose=true" if schema.variant(variant).verbose else "")
    body = alg.encode_response(batch, accept, algorithm)
    want = alg.decode_response(body, ct, algorithm)
    got = smp.decode_response(body, ct)
    assert len(got) == len(want)
    if not len(want) or ct == CSV:
        return
    for key, col in want.label.items():
        assert np.array_equal(got.label[key].reshape(col.shape), col)


@given(st.binary(max_size=200), st.sampled_from(CASES))
def test_garbage_gives_decode_error_only(data: bytes, case: tuple[str, str, str]) -> None:
    algorithm, _, ct = case
    with contextlib.suppress(smp.DecodeError):
        alg.decode_response(data, ct, algorithm)


@given(st.sampled_from(CASES), st.data())
def test_mutated_bodies_give_decode_error_only(case: tuple[str, str, str], data: st.DataObject) -> None:
    algorithm, variant, ct = case
    batch = data.draw(variant_batches(algorithm, variant))
    accept = ct + ("; verbose=true" if alg.get(algorithm).variant(variant).verbose else "")
    body = bytearray(alg.encode_response(batch, accept, algorithm))
    if body:
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(smp.DecodeError):
        alg.decode_response(bytes(body), ct, algorithm)
