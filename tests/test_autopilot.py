"""smp.autopilot: keys, environment variables, container payloads, the simulated chains.

Golden cases name their source: the Developer Guide page "Configure inference output in
generated containers" and the sections of docs/autopilot.md (which name the public code and
pages each fact comes from). SDK parity of select_inference_response_keys is in
test_autopilot_sdk.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import autopilot as ap

from .helpers import GOLDEN

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/jsonlines"
RIO = "application/x-recordio-protobuf"
ALL4 = ["predicted_label", "probability", "probabilities", "labels"]
SUP, INP, OUT = ap.ENV_SUPPORTED, ap.ENV_INPUT, ap.ENV_OUTPUT


def xgb_binary(raw: list[float]) -> smp.RecordBatch:
    """The XGBoost container's values for binary:logistic outputs `raw` (float32)."""
    p = np.array(raw, np.float32).astype(np.float64)
    return smp.RecordBatch(
        label={
            "predicted_label": (p > 0.5).astype(np.float64),
            "probability": p,
            "probabilities": np.column_stack([1.0 - p, p]),
            "labels": np.tile([0.0, 1.0], (len(p), 1)),
        }
    )


def pick(batch: smp.RecordBatch, keys: list[str]) -> smp.RecordBatch:
    return smp.RecordBatch(label={k: batch.label[k] for k in keys}, n=len(batch))


# ======================================================================================
# Keys and environment variables
# ======================================================================================


def test_keys_and_meanings() -> None:
    """The Developer Guide page "Configure inference output in generated containers",
    "Inference responses for classification models" (its 2023 revision for the ensemble
    meaning of probability); docs/autopilot.md, "The keys"."""
    assert ap.KEYS == ("predicted_label", "probability", "probabilities", "labels")
    assert ap.DEFAULT_KEYS == ("predicted_label",)
    p = ap.KEY_INFO["probability"]
    assert p.meaning("binary", "hpo") == "probability of the True class (the second class)"
    assert p.meaning("binary", "ensemble") == "probability of predicted_label"
    assert (
        p.meaning("multiclass", "hpo")
        == p.meaning("multiclass", "ensemble")
        == "probability of predicted_label"
    )
    assert ap.KEY_INFO["labels"].meaning("binary", "hpo") == "all labels, in class order"
    # the AWS page: the algorithm container supports predicted_label, probability and
    # probabilities; labels is "deliberately not added" (docs/autopilot.md)
    assert ap.ALGORITHM_SUPPORTED == ("predicted_label", "probability", "probabilities")
    assert set(ap.POST_PROCESSING_SUPPORTED) == set(ap.KEYS)


#: The AWS page's HPO and ensembling recipes (docs/autopilot.md, "Environment variables"):
#: every variable value printed there.
RECIPE_VALUES = {
    "predicted_label, probability": ("predicted_label", "probability"),
    "predicted_label,probabilities": ("predicted_label", "probabilities"),
    "predicted_label, probabilities,labels": ("predicted_label", "probabilities", "labels"),
}


@pytest.mark.parametrize("value", list(RECIPE_VALUES))
def test_recipe_variable_values(value: str) -> None:
    """The AWS page's `.update({...})` recipe values, with their stray spaces, as both
    containers read them (XGBoost: spaces removed; post-processing: entries stripped; both
    lower-case; docs/autopilot.md, "Environment variables")."""
    assert ap.parse_keys(value) == RECIPE_VALUES[value]
    assert tuple(value.replace(" ", "").lower().split(",")) == RECIPE_VALUES[value]
    assert tuple(k.strip().lower() for k in value.split(",")) == RECIPE_VALUES[value]


def test_every_recipe_in_the_aws_page() -> None:
    """Every container-environment update that the AWS page "Configure inference output in
    generated containers" prints (tests/golden/docs/autopilot_recipes.json) parses, and the HPO
    recipes set container 2's INPUT to container 1's OUTPUT (as keys)."""
    recipes = json.loads((GOLDEN / "docs" / "autopilot_recipes.json").read_text(encoding="utf-8"))
    updates = [tuple(u) for r in recipes["recipes"] for u in r["updates"]]
    assert len(updates) == 11
    for _, var, value in updates:
        assert value in RECIPE_VALUES
        assert ap.parse_keys(value, variable=var) == RECIPE_VALUES[value]
    hpo = [(i, v, ap.parse_keys(x)) for i, v, x in updates]
    outputs_1 = [k for i, v, k in hpo if i == 1 and v == OUT]
    inputs_2 = [k for i, v, k in hpo if i == 2 and v == INP]
    assert (
        outputs_1
        == inputs_2
        == [
            ("predicted_label", "probability"),
            ("predicted_label", "probabilities"),
            ("predicted_label", "probability"),
        ]
    )
    assert [k for i, v, k in hpo if i == 0] == [("predicted_label", "probability")] * 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "SAGEMAKER_INFERENCE_OUTPUT is empty; expected comma-separated keys"),
        ("  ", "SAGEMAKER_INFERENCE_OUTPUT is empty; expected comma-separated keys"),
        ("predicted_label,", "SAGEMAKER_INFERENCE_OUTPUT: entry 2 is empty in 'predicted_label,'"),
        (
            "predicted_label,score",
            "SAGEMAKER_INFERENCE_OUTPUT: unknown key 'score' (entry 2); the keys are "
            "predicted_label, probability, probabilities, labels",
        ),
        ("labels,LABELS", "SAGEMAKER_INFERENCE_OUTPUT: key 'labels' is listed twice in 'labels,LABELS'"),
        (
            "predicted_labels",  # the Clarify illustration's key (docs/autopilot.md)
            "SAGEMAKER_INFERENCE_OUTPUT: unknown key 'predicted_labels' (entry 1); the keys are "
            "predicted_label, probability, probabilities, labels",
        ),
    ],
)
def test_parse_keys_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        ap.parse_keys(value)
    assert str(e.value) == message


def test_parse_keys_case_and_spaces() -> None:
    """docs/autopilot.md, "Environment variables": the containers lower-case and strip."""
    assert ap.parse_keys(" Predicted_Label ,PROBABILITY\t") == ("predicted_label", "probability")
    with pytest.raises(TypeError):
        ap.parse_keys(None)  # type: ignore[arg-type]


def test_parse_environment_real_chain() -> None:
    """docs/autopilot.md, "Containers": the real 2021 HPO classification environments
    (amazon-sagemaker-examples, autopilot/autopilot_customer_churn.ipynb)."""
    envs = [
        {"AUTOML_TRANSFORM_MODE": "feature-transform"},
        {OUT: "predicted_label", SUP: "predicted_label,probability,probabilities"},
        {
            INP: "predicted_label",
            OUT: "predicted_label",
            SUP: "predicted_label,probability,labels,probabilities",
        },
    ]
    got = [ap.parse_environment(e) for e in envs]
    assert got[0] == ap.ContainerKeys(None, None, None) and got[0].emits == ("predicted_label",)
    assert got[1].supported == ap.ALGORITHM_SUPPORTED and got[1].output == ("predicted_label",)
    assert got[2] == ap.ContainerKeys(
        ap.POST_PROCESSING_SUPPORTED, ("predicted_label",), ("predicted_label",)
    )
    assert ap.parse_environment(None) == ap.ContainerKeys(None, None, None)


def test_parse_environment_output_not_supported() -> None:
    """The AWS page: labels is not supported by the algorithm container."""
    env = {SUP: "predicted_label,probability,probabilities", OUT: "predicted_label, labels"}
    with pytest.raises(ValueError) as e:
        ap.parse_environment(env)
    assert str(e.value) == (
        "SAGEMAKER_INFERENCE_OUTPUT lists labels, which SAGEMAKER_INFERENCE_SUPPORTED "
        "(predicted_label, probability, probabilities) does not"
    )
    with pytest.raises(ValueError, match="SAGEMAKER_INFERENCE_INPUT: unknown key 'x'"):
        ap.parse_environment({INP: "x"})


def test_aws_sdk_example_keys() -> None:
    """The AWS page's SDK example `inference_response_keys=['probabilities', 'labels']` on
    the real chain (docs/autopilot.md, "Containers"): what the SDK path sets."""
    containers = [
        {"Environment": {}},
        {"Environment": {OUT: "predicted_label", SUP: "predicted_label,probability,probabilities"}},
        {
            "Environment": {
                INP: "predicted_label",
                OUT: "predicted_label",
                SUP: "predicted_label,probability,labels,probabilities",
            }
        },
    ]
    got = ap.select_inference_response_keys(containers, ["probabilities", "labels"])
    assert got[1]["Environment"][OUT] == "probabilities"
    assert got[2]["Environment"][INP] == "probabilities"
    assert got[2]["Environment"][OUT] == "probabilities,labels"
    # docs/autopilot.md, rule 4: ["labels"] only leaves containers 1 and 2's earlier settings
    only = ap.select_inference_response_keys(containers, ["labels"])
    assert only[1]["Environment"][OUT] == "predicted_label"
    assert only[2]["Environment"][INP] == "predicted_label" and only[2]["Environment"][OUT] == "labels"


# ======================================================================================
# Golden payloads: the algorithm container (docs/autopilot.md, "Algorithm container")
# ======================================================================================


def test_xgboost_unit_test_csv_and_jsonlines() -> None:
    """sagemaker-xgboost-container's unit test (test/unit/algorithm_mode/test_serve_utils.py):
    predicted_label + probabilities, CSV and JSON Lines (docs/autopilot.md)."""
    keys = ["predicted_label", "probabilities"]
    batch = smp.RecordBatch(
        label={"predicted_label": np.array([1.0, 0.0]), "probabilities": np.array([[0.4, 0.6], [0.9, 0.1]])}
    )
    body = b'1,"[0.4, 0.6]"\n0,"[0.9, 0.1]"'
    assert ap.encode_response(batch, CSV, keys, role="algorithm") == body
    assert ap.encode_response(batch, CSV, keys, role="algorithm", sagemaker_batch=True) == body + b"\n"
    assert ap.decode_response(body, CSV, keys, role="algorithm") == batch
    lines = (
        b'{"predicted_label": 1, "probabilities": [0.4, 0.6]}\n'
        b'{"predicted_label": 0, "probabilities": [0.9, 0.1]}\n'
    )
    assert ap.encode_response(batch, JSONL, keys, role="algorithm") == lines
    assert ap.decode_response(lines, JSONL, keys, role="algorithm") == batch
    # the list of dicts the XGBoost test starts from
    dicts = [
        {"predicted_label": 1, "probabilities": [0.4, 0.6]},
        {"predicted_label": 0, "probabilities": [0.9, 0.1]},
    ]
    assert ap.encode_response(dicts, CSV, keys, role="algorithm") == body


WORKED_CSV = (
    b'1,0.8234567046165466,"[0.17654329538345337, 0.8234567046165466]","[0, 1]"\n'
    b'0,0.10000000149011612,"[0.8999999985098839, 0.10000000149011612]","[0, 1]"'
)
WORKED_JSON = (
    b'{"predictions": [{"predicted_label": 1, "labels": [0, 1], "probability": 0.8234567046165466, '
    b'"probabilities": [0.17654329538345337, 0.8234567046165466]}, {"predicted_label": 0, "labels": [0, 1], '
    b'"probability": 0.10000000149011612, "probabilities": [0.8999999985098839, 0.10000000149011612]}]}'
)


def test_worked_example_binary_logistic() -> None:
    """docs/autopilot.md's worked example: binary:logistic 0.8234567, 0.1 (float32), all
    four keys; CSV in the variable's order, JSON in the container's fixed order; 1 - p in
    float64 is 0.8999999985098839."""
    batch = xgb_binary([0.8234567, 0.1])
    assert ap.encode_response(batch, CSV, ALL4, role="algorithm") == WORKED_CSV
    assert ap.encode_response(batch, JSON, ALL4, role="algorithm") == WORKED_JSON
    assert (
        ap.encode_response(
            batch, JSON, ["probabilities", "labels", "probability", "predicted_label"], role="algorithm"
        )
        == WORKED_JSON
    )
    assert ap.decode_response(WORKED_CSV, CSV, ALL4, role="algorithm") == batch
    assert ap.decode_response(WORKED_JSON, JSON, ALL4, role="algorithm") == batch
    assert batch.label["probabilities"][1, 0] == 0.8999999985098839


def test_worked_example_multi_softprob() -> None:
    """docs/autopilot.md, "Algorithm container": multi:softprob row [0.1, 0.7, 0.2]."""
    p = np.array([[0.1, 0.7, 0.2]], np.float32).astype(np.float64)
    batch = smp.RecordBatch(
        label={"predicted_label": np.array([1.0]), "probability": p.max(axis=1), "probabilities": p}
    )
    body = b'1,0.699999988079071,"[0.10000000149011612, 0.699999988079071, 0.20000000298023224]"'
    keys = "predicted_label,probability,probabilities"
    assert ap.encode_response(batch, CSV, keys, role="algorithm") == body
    assert ap.decode_response(body, CSV, keys, role="algorithm") == batch


def test_algorithm_nan_for_unsupported_keys() -> None:
    """docs/autopilot.md, "Algorithm container": keys the objective cannot fill are NaN:
    CSV ``nan``, JSON ``NaN``."""
    batch = smp.RecordBatch(
        label={
            "predicted_label": np.array([1.0]),
            "probabilities": smp.Ragged.from_lists([None], dtype="float64"),
            "probability": np.array([math.nan]),
        }
    )
    keys = ["predicted_label", "probabilities", "probability"]
    assert ap.encode_response(batch, CSV, keys, role="algorithm") == b"1,nan,nan"
    assert ap.encode_response(batch, JSON, keys, role="algorithm") == (
        b'{"predictions": [{"predicted_label": 1, "probability": NaN, "probabilities": NaN}]}'
    )
    for body, ct in (
        (b"1,nan,nan", CSV),
        (b"1,NaN,NaN\n", CSV),
        (b"1,,", CSV),
        (b'{"predictions": [{"predicted_label": 1, "probability": NaN, "probabilities": NaN}]}', JSON),
    ):
        assert ap.decode_response(body, ct, keys, role="algorithm") == batch, body


def test_plain_batch_list_repr() -> None:
    """docs/algorithms.md, "XGBoost": in batch the plain XGBoost answer is `str(pred)` per line, so a
    softprob row is a bare list repr: read as one probabilities column."""
    got = ap.decode_response(b"[0.1, 0.9]\n[0.75, 0.25]\n", CSV, ["probabilities"], role="algorithm")
    assert got.label["probabilities"].tolist() == [[0.1, 0.9], [0.75, 0.25]]


# ======================================================================================
# Golden payloads: post-processing and ensembling containers (docs/autopilot.md)
# ======================================================================================

PP_ROW = b"True.,0.8234567046165466,\"[0.17654329538345337, 0.8234567046165466]\",\"['False.', 'True.']\"\n"
PP_JSON = (
    b'{"predictions": [{"predicted_label": "True.", "probability": "0.8234567046165466", '
    b'"probabilities": "[0.17654329538345337, 0.8234567046165466]", "labels": "[\'False.\', \'True.\']"}]}'
)


def pp_batch() -> smp.RecordBatch:
    labels = np.empty(1, object)
    labels[0] = ["False.", "True."]
    return smp.RecordBatch(
        label={
            "predicted_label": np.array(["True."]),
            "probability": np.array([0.8234567046165466]),
            "probabilities": np.array([[0.17654329538345337, 0.8234567046165466]]),
            "labels": labels,
        }
    )


def test_post_processing_row_and_json() -> None:
    """docs/autopilot.md, "Post-processing container" (the Autopilot-generated
    sagemaker_serve.py): the end-to-end CSV row and the JSON with string values."""
    batch = pp_batch()
    assert ap.encode_response(batch, CSV, ALL4) == PP_ROW
    assert ap.encode_response(batch, JSON, ALL4) == PP_JSON
    assert ap.encode_response(batch, JSONL, ALL4) == PP_JSON[len(b'{"predictions": [') : -2] + b"\n"
    for body, ct in ((PP_ROW, CSV), (PP_JSON, JSON)):
        got = ap.decode_response(body, ct, ALL4)
        assert got == batch
        assert got.label["predicted_label"].dtype.kind == "U"
        assert got.label["labels"].dtype == object


def test_post_processing_csv_is_csv_writer() -> None:
    """sagemaker-containers' CSV encoder: the post-processing container writes with
    csv.writer (minimal quoting, "\\n");
    the same rows, including labels with quotes and commas, from the stdlib writer."""
    names = ['say "hi"', "a,b", "it's", "plain"]
    labels = np.empty(4, object)
    labels[:] = [list(names)] * 4
    batch = smp.RecordBatch(label={"predicted_label": np.array(names), "labels": labels})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for name in names:
        w.writerow([name, str(list(names))])
    assert ap.encode_response(batch, CSV, ["predicted_label", "labels"]) == out.getvalue().encode()
    assert ap.decode_response(out.getvalue(), CSV, ["predicted_label", "labels"]) == batch


def test_clarify_example_no_spaces() -> None:
    """The Clarify page "Pre-check the model container" (docs/autopilot.md, "Ensembling
    container"): labels then probabilities, no spaces."""
    body = b"\"['cat','dog','fish']\",\"[0.1,0.6,0.3]\"\n\"['cat','dog','fish']\",\"[0.2,0.5,0.3]\"\n"
    got = ap.decode_response(body, CSV, ["labels", "probabilities"], role="ensemble")
    assert got.label["labels"].tolist() == [["cat", "dog", "fish"]] * 2
    assert got.label["probabilities"].tolist() == [[0.1, 0.6, 0.3], [0.2, 0.5, 0.3]]
    assert list(got.label) == ["labels", "probabilities"]
    # written back exactly as the post-processing container would (Python reprs)
    assert ap.encode_response(got, CSV, ["labels", "probabilities"], role="ensemble") == (
        b"\"['cat', 'dog', 'fish']\",\"[0.1, 0.6, 0.3]\"\n\"['cat', 'dog', 'fish']\",\"[0.2, 0.5, 0.3]\"\n"
    )


def test_clarify_jsonlines_key_is_not_autopilot() -> None:
    """docs/autopilot.md, "Ensembling container": Clarify's `predicted_labels` is not an
    Autopilot key."""
    body = b'{"predicted_labels": ["cat", "dog", "fish"], "probabilities": [0.1, 0.6, 0.3]}\n'
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(body, JSONL, ["labels", "probabilities"])
    assert e.value.reason == "$: unexpected key 'predicted_labels'; expected labels, probabilities"
    assert (e.value.line, e.value.offset, e.value.record_index) == (1, 1, 0)  # the key


def test_ensemble_json_typed() -> None:
    """Ensembling container JSON (inferred; docs/autopilot.md): typed values, keys in order."""
    batch = pp_batch()
    assert ap.encode_response(batch, JSON, ["labels", "predicted_label"], role="ensemble") == (
        b'{"predictions": [{"labels": ["False.", "True."], "predicted_label": "True."}]}'
    )
    assert (
        ap.encode_response(batch, JSONL, ["probability"], role="ensemble")
        == b'{"probability": 0.8234567046165466}\n'
    )


# ======================================================================================
# Liberal decoding (docs/autopilot.md, "Reading: liberal where the containers disagree")
# ======================================================================================


@pytest.mark.parametrize(
    "field",
    [
        b"\"['False.', 'True.']\"",
        b"\"['False.','True.']\"",
        b'"[""False."", ""True.""]"',  # JSON-style double quotes inside a CSV field
        b'"[ \'False.\' ,  ""True."" ]"',
    ],
)
def test_labels_quotes_and_spaces(field: bytes) -> None:
    got = ap.decode_response(b"True.," + field + b"\n", CSV, ["predicted_label", "labels"])
    assert got.label["labels"].tolist() == [["False.", "True."]]


@pytest.mark.parametrize("field", [b'"[0, 1]"', b'"[0.0, 1.0]"', b'"[0,1]"', b'"[ 0 , 1.0 ]"'])
def test_int_or_float_class_indices(field: bytes) -> None:
    got = ap.decode_response(b"1.0," + field, CSV, ["predicted_label", "labels"], role="algorithm")
    assert got.label["labels"].tolist() == [[0.0, 1.0]] and got.label["predicted_label"].tolist() == [1.0]


def test_numeric_labels_become_text() -> None:
    """Label lists of numbers (a container that writes classes as numbers) read as text."""
    got = ap.decode_response(b'1,"[0, 1]"\n', CSV, ["predicted_label", "labels"])
    assert got.label["predicted_label"].tolist() == ["1"] and got.label["labels"].tolist() == [["0", "1"]]
    got = ap.decode_response(
        b'{"predicted_label": 1, "labels": [0, 1.5]}\n', JSONL, ["predicted_label", "labels"]
    )
    assert got.label["predicted_label"].tolist() == ["1"] and got.label["labels"].tolist() == [["0", "1.5"]]


def test_json_values_as_arrays_or_strings() -> None:
    """docs/autopilot.md: in JSON, list values as arrays or as strings holding a list
    literal."""
    a = ap.decode_response(
        b'{"predictions": [{"probability": 0.5, "probabilities": [0.5, 0.5], "labels": ["a", "b"]}]}',
        JSON,
        ["probability", "probabilities", "labels"],
    )
    b = ap.decode_response(
        b'{"predictions": [{"labels": "[\'a\', \'b\']", "probability": "0.5", '
        b'"probabilities": "[0.5,0.5]"}]}',
        JSON,
        ["probability", "probabilities", "labels"],
    )
    assert a == b
    assert list(b.label) == ["probability", "probabilities", "labels"]


def test_nan_per_record_and_ragged() -> None:
    body = b'a,"[0.25, 0.75]"\nb,nan\nc,"[0.5, 0.25, 0.25]"\n'
    got = ap.decode_response(body, CSV, ["predicted_label", "probabilities"])
    col = got.label["probabilities"]
    assert isinstance(col, smp.Ragged)
    assert col.to_lists() == [[0.25, 0.75], None, [0.5, 0.25, 0.25]]
    assert ap.encode_response(got, CSV, ["predicted_label", "probabilities"]) == body
    lab = ap.decode_response(b"x,NaN\n", CSV, ["predicted_label", "labels"])
    assert lab.label["labels"].tolist() == [None]
    assert ap.encode_response(lab, CSV, ["predicted_label", "labels"]) == b"x,nan\n"


def test_crlf_bom_blank_lines() -> None:
    got = ap.decode_response(
        b"\xef\xbb\xbf0,0.5\r\n\r\n1,0.25\r\n", CSV, ["predicted_label", "probability"], role="algorithm"
    )
    assert got.label["predicted_label"].tolist() == [0.0, 1.0] and got.label["probability"].tolist() == [
        0.5,
        0.25,
    ]


def test_empty_bodies() -> None:
    for ct in (CSV, JSON, JSONL):
        got = ap.decode_response(b"", ct, ALL4)
        assert len(got) == 0 and list(got.label) == ALL4
        assert got.label["probabilities"].shape == (0, 0) and got.label["labels"].dtype == object
    assert ap.decode_response(b'{"predictions": []}', JSON, ["probability"]).label["probability"].shape == (
        0,
    )
    assert ap.encode_response(ap.decode_response(b"", CSV, ALL4), CSV, ALL4) == b""
    assert ap.encode_response(ap.decode_response(b"", CSV, ALL4), JSON, ALL4) == b'{"predictions": []}'


# ======================================================================================
# Errors
# ======================================================================================


@pytest.mark.parametrize(
    ("body", "ct", "keys", "where", "reason"),
    [
        (
            b"1,0.5\n1,0.5,0.5\n",
            CSV,
            "predicted_label,probability",
            (2, 12, 1),
            "row has 3 fields for 2 keys (predicted_label, probability)",
        ),
        (
            b"1,0.5\n1\n",
            CSV,
            "predicted_label,probability",
            (2, 7, 1),
            "row has 1 fields for 2 keys (predicted_label, probability)",
        ),
        (
            b"a,0.5\nb,high\n",
            CSV,
            "predicted_label,probability",
            (2, 8, 1),
            "column 2 (probability): 'high' is not a number",
        ),
        (
            b'a,"[0.5, x]"\n',
            CSV,
            "predicted_label,probabilities",
            (1, 2, 0),
            "column 2 (probabilities): 'x' is not a number",
        ),
        (
            b"a,0.5\n",
            CSV,
            "predicted_label,probabilities",
            (1, 2, 0),
            "column 2 (probabilities): expected a bracketed list of numbers, found '0.5'",
        ),
        (
            b'a,"[cat, dog]"\n',
            CSV,
            "predicted_label,labels",
            (1, 2, 0),
            "column 2 (labels): not a list literal of labels ('[cat, dog]')",
        ),
        (
            b'a,"[[1]]"\n',
            CSV,
            "predicted_label,labels",
            (1, 2, 0),
            "column 2 (labels): a label must be a string or a number, found list",
        ),
        (
            b'a,"[0.5\n',
            CSV,
            "predicted_label,probabilities",
            (1, 2, 0),
            "unterminated quoted field (no closing '\"')",
        ),
        (
            b"cat,0.5\n",
            CSV,
            "predicted_label,probability",
            (1, 0, 0),
            "column 1 (predicted_label): 'cat' is not a number",
        ),
    ],
)
def test_csv_decode_errors(body: bytes, ct: str, keys: str, where: tuple[int, int, int], reason: str) -> None:
    role = "algorithm" if body.startswith(b"cat") else "post-processing"
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(body, ct, keys, role=role)
    assert (e.value.line, e.value.offset, e.value.record_index) == where
    assert e.value.reason == reason
    assert e.value.content_type == CSV


def test_json_decode_errors() -> None:
    keys = ["predicted_label", "probability"]
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(
            b'{"predictions": [{"predicted_label": "a", "probability": 0.5}, {"predicted_label": "b"}]}',
            JSON,
            keys,
        )
    assert (e.value.record_index, e.value.reason) == (1, "$.predictions[1]: no 'probability'")
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(b'{"scores": []}', JSON, keys)
    assert e.value.reason == 'expected {"predictions": [...]} (one object per record)' and e.value.offset == 0
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(b'{"predictions": [{"predicted_label": "a", "probability": true}]}', JSON, keys)
    assert e.value.reason == "$.predictions[0].probability: expected a number, found true"
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(b'{"predictions": [', JSON, keys)
    assert e.value.reason.startswith("invalid JSON") and e.value.offset == 17
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(
            b'{"predicted_label": "a", "probability": 0.5}\n\n{"predicted_label": "b", "probability": [1]}\n',
            JSONL,
            keys,
        )
    assert (e.value.line, e.value.offset, e.value.record_index) == (3, 86, 1)  # the list [1]
    assert e.value.reason == "$.probability: expected a number, found a list"
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(b'{"predicted_label": "a", "probability": 0.5}\n  {"x": \n', JSONL, keys)
    assert (e.value.line, e.value.record_index) == (2, 1) and e.value.reason.startswith("invalid JSON")


def test_media_type_errors() -> None:
    with pytest.raises(smp.NotAcceptableError) as e:
        ap.encode_response(pp_batch(), RIO, ALL4)
    assert e.value.supported == (CSV, JSON, JSONL) and e.value.status_hint == 406
    with pytest.raises(smp.UnsupportedMediaTypeError) as u:
        ap.decode_response(b"", RIO, ALL4)
    assert u.value.supported == (CSV, JSON, JSONL)
    with pytest.raises(smp.UnsupportedMediaTypeError):
        ap.decode_response(b"", "text/csv; charset=latin-1", ALL4)
    assert len(ap.decode_response(b"a\n", "Text/CSV; charset=UTF-8", ["predicted_label"])) == 1
    assert (
        len(ap.decode_response(b'{"predicted_label": "a"}', "application/x-jsonlines", ["predicted_label"]))
        == 1
    )


def test_readers_use_the_registry_codec() -> None:
    """Autopilot maps its keys onto the registry's codecs: the RecordIO-protobuf reader decodes
    with get_codec(..., copy=True), and a codec registered in place of the built-in one is
    used from then on (and the built-in one again once it is restored)."""
    from sm_payloads.formats.recordio_protobuf import RecordIOProtobufCodec

    seen: list[Any] = []

    class Spy(RecordIOProtobufCodec):
        def decode(self, data: Any, /) -> smp.RecordBatch:
            seen.append(self)
            return super().decode(data)

    body = ap.encode_response(xgb_binary([0.25, 0.75]), RIO, ALL4, role="algorithm")
    smp.register_codec(Spy, replace=True)
    try:
        got = ap.decode_response(body, RIO, ALL4, role="algorithm")
    finally:
        smp.register_codec(RecordIOProtobufCodec, replace=True)
    assert [type(c) for c in seen] == [Spy] and seen[0].copy is True
    assert got.label["probability"].tolist() == [0.25, 0.75]
    ap.decode_response(body, RIO, ALL4, role="algorithm")
    assert len(seen) == 1


def test_option_errors() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        ap.decode_response(b"", CSV, ["labels", "labels"])
    with pytest.raises(ValueError, match="unknown key 'score'"):
        ap.encode_response(pp_batch(), CSV, ["score"])
    with pytest.raises(ValueError, match="keys is empty"):
        ap.encode_response(pp_batch(), CSV, [])
    with pytest.raises(ValueError, match="role must be one of"):
        ap.encode_response(pp_batch(), CSV, ALL4, role="xgboost")
    assert ap.encode_response(pp_batch(), CSV, ALL4, role="inverse-label-transform") == PP_ROW


def test_encode_errors() -> None:
    batch = pp_batch()
    with pytest.raises(smp.EncodeError) as e:
        ap.encode_response(pick(batch, ["predicted_label"]), CSV, ["predicted_label", "probability"])
    assert (
        e.value.column == "label['probability']"
        and e.value.reason == "no output 'probability' in the batch's label"
    )
    with pytest.raises(smp.EncodeError) as e:
        ap.encode_response(batch, CSV, ALL4, role="algorithm")  # text where class indices belong
    assert e.value.column == "label['predicted_label']"
    assert e.value.reason.startswith("expected one number per record (N,), found a strings column")
    bad = smp.RecordBatch(label={"probabilities": np.array([0.5, 0.5])})
    with pytest.raises(smp.EncodeError, match=r"expected a list of numbers per record \(N, k\)"):
        ap.encode_response(bad, JSON, ["probabilities"])
    with pytest.raises(smp.EncodeError, match="hold their outputs in label"):
        ap.encode_response(smp.from_dense(np.ones((1, 2))), CSV, ["predicted_label"])
    with pytest.raises(smp.EncodeError, match="record 0 has no 'labels'"):
        ap.encode_response([{"predicted_label": "a"}], CSV, ["predicted_label", "labels"])
    with pytest.raises(smp.EncodeError):
        ap.encode_response("a,b", CSV, ["predicted_label"])


# ======================================================================================
# The hand-off: container 2's output is container 3's input
# ======================================================================================


def test_handoff_inverse_label_transform() -> None:
    """docs/autopilot.md, "The hand-off between containers 2 and 3": container 3 reads
    container 2's CSV under its INPUT keys; keys
    present pass through (same text), predicted_label maps to the class, labels is the
    class list, a key absent from the input is NaN."""
    c2 = ap.encode_response(
        xgb_binary([0.8234567]), CSV, "predicted_label,probability,probabilities", role="algorithm"
    )
    got = ap.decode_response(c2, CSV, "predicted_label,probability,probabilities", role="algorithm")
    out = ap.inverse_label_transform(
        got, ["False.", "True."], "predicted_label,probability,probabilities,labels"
    )
    assert ap.encode_response(out, CSV, ALL4) == PP_ROW
    assert ap.encode_response(out, JSON, ALL4) == PP_JSON
    # a key not handed over by container 2 is NaN
    only = ap.decode_response(b"1\n", CSV, ["predicted_label"], role="algorithm")
    out = ap.inverse_label_transform(only, ["no", "yes"], ["probability", "predicted_label", "probabilities"])
    assert (
        ap.encode_response(out, CSV, ["probability", "predicted_label", "probabilities"]) == b"nan,yes,nan\n"
    )
    assert ap.encode_response(out, JSON, ["probability", "predicted_label"]) == (
        b'{"predictions": [{"probability": NaN, "predicted_label": "yes"}]}'
    )
    with pytest.raises(ValueError, match="not a class index of 2 classes"):
        ap.inverse_label_transform(
            ap.decode_response(b"2\n", CSV, ["predicted_label"], role="algorithm"),
            ["a", "b"],
            ["predicted_label"],
        )


def test_handoff_mismatch_is_a_decode_error() -> None:
    c2 = ap.encode_response(xgb_binary([0.25]), CSV, "predicted_label,probability", role="algorithm")
    with pytest.raises(smp.DecodeError, match="row has 2 fields for 3 keys"):
        ap.decode_response(c2, CSV, "predicted_label,probability,probabilities", role="algorithm")


# ======================================================================================
# Properties
# ======================================================================================

# no "\r": csv.writer leaves it unquoted, so a label ending with one loses it (as it would
# for any reader of the container's CSV)
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=12)
_f64 = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def responses(draw: st.DrawFn) -> tuple[smp.RecordBatch, list[str], str]:
    role = draw(st.sampled_from(["algorithm", "post-processing", "ensemble"]))
    keys = draw(st.lists(st.sampled_from(ap.KEYS), min_size=1, max_size=4, unique=True))
    n = draw(st.integers(1, 5))
    k = draw(st.integers(0, 4))
    label: dict[str, Any] = {}
    for key in keys:
        if key == "probability" or (key == "predicted_label" and role == "algorithm"):
            label[key] = np.array(draw(st.lists(_f64, min_size=n, max_size=n)), np.float64)
        elif key == "predicted_label":
            label[key] = np.array(draw(st.lists(_text, min_size=n, max_size=n)), dtype=str)
        elif key == "labels" and role != "algorithm":
            col = np.empty(n, object)
            col[:] = draw(st.lists(st.one_of(st.none(), st.lists(_text, max_size=4)), min_size=n, max_size=n))
            label[key] = col
        else:
            rows = draw(st.lists(st.lists(_f64, min_size=k, max_size=k), min_size=n, max_size=n))
            if draw(st.booleans()):
                missing = draw(st.lists(st.booleans(), min_size=n, max_size=n))
                if any(missing):
                    label[key] = smp.Ragged.from_lists(
                        [None if m else r for m, r in zip(missing, rows, strict=True)], dtype="float64"
                    )
                    continue
            label[key] = np.array(rows, np.float64).reshape(n, k)
    return smp.RecordBatch(label=label, n=n), keys, role


@given(responses(), st.sampled_from([CSV, JSON, JSONL]))
def test_round_trip(case: tuple[smp.RecordBatch, list[str], str], ct: str) -> None:
    batch, keys, role = case
    body = ap.encode_response(batch, ct, keys, role=role)
    got = ap.decode_response(body, ct, keys, role=role)
    assert got.equals(batch), (body, batch, got)
    assert ap.encode_response(got, ct, keys, role=role) == body


@given(responses())
def test_csv_post_processing_matches_csv_writer(case: tuple[smp.RecordBatch, list[str], str]) -> None:
    """Every post-processing CSV body is what csv.writer writes for the same texts
    (sagemaker-containers' CSV encoder; docs/autopilot.md)."""
    batch, keys, role = case
    if role == "algorithm":
        return
    body = ap.encode_response(batch, CSV, keys, role=role)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    assert out.getvalue().encode("utf-8") == body


@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from(
                [
                    b"[",
                    b"]",
                    b",",
                    b'"',
                    b"'",
                    b"nan",
                    b"1",
                    b"\n",
                    b"a",
                    b"{",
                    b"}",
                    b":",
                    b'"predictions"',
                    b'"labels"',
                    b"\\",
                    b"1e999",
                    b"NaN",
                    b"\x00",
                    b"\xff",
                ]
            ),
            max_size=30,
        ).map(b"".join),
    ),
    st.sampled_from([CSV, JSON, JSONL, RIO]),
    st.lists(st.sampled_from(ap.KEYS), min_size=1, max_size=4, unique=True),
    st.sampled_from(["algorithm", "post-processing", "ensemble"]),
)
def test_garbage_only_decode_error(body: bytes, ct: str, keys: list[str], role: str) -> None:
    if ct == RIO:
        role = "algorithm"  # the only role that writes RecordIO-protobuf
    with contextlib.suppress(smp.DecodeError):
        ap.decode_response(body, ct, keys, role=role)


@given(responses(), st.sampled_from([CSV, JSON, JSONL]), st.data())
def test_mutations_only_decode_error(
    case: tuple[smp.RecordBatch, list[str], str], ct: str, data: st.DataObject
) -> None:
    batch, keys, role = case
    body = bytearray(ap.encode_response(batch, ct, keys, role=role))
    for _ in range(data.draw(st.integers(1, 4))):
        if body:
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(smp.DecodeError):
        ap.decode_response(bytes(body), ct, keys, role=role)


# ======================================================================================
# The simulated chains on real scikit-learn models
# ======================================================================================

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def churn_like(problem: str) -> list[dict[str, Any]]:
    """The HPO containers as Autopilot generates them (docs/autopilot.md, "Containers")."""
    fe = {
        "Environment": {
            "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "1",
            "AUTOML_TRANSFORM_MODE": "feature-transform",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": RIO,
        }
    }
    if problem == "regression":
        return [fe, {"Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV}}]
    return [
        fe,
        {
            "Environment": {
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV,
                OUT: "predicted_label",
                SUP: ",".join(ap.ALGORITHM_SUPPORTED),
            }
        },
        {
            "Environment": {
                "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV,
                INP: "predicted_label",
                OUT: "predicted_label",
                SUP: ",".join(ap.POST_PROCESSING_SUPPORTED),
            }
        },
    ]


@pytest.fixture(scope="module")
def iris() -> dict[str, Any]:
    X, y = load_iris(return_X_y=True)
    scaler = StandardScaler().fit(X)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(X), y)
    return {
        "X": X,
        "y": y,
        "scaler": scaler,
        "model": model,
        "classes": [str(c) for c in load_iris().target_names],
    }


@pytest.fixture(scope="module")
def cancer() -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True)
    scaler = StandardScaler().fit(X)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(X), y)
    return {
        "X": X,
        "y": y,
        "scaler": scaler,
        "model": model,
        "classes": [str(c) for c in load_breast_cancer().target_names],
    }


def expected_rows(names: list[str], p32: np.ndarray, keys: list[str], binary: bool) -> bytes:
    """The final CSV the post-processing container writes, built with the stdlib only."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for row in p32:
        p = [float(x) for x in row]
        if binary:
            idx = int(row[1] > 0.5)
            probability = p[1]
            probabilities = [1.0 - p[1], p[1]]
        else:
            idx = int(np.argmax(row))
            probability = max(p)
            probabilities = p
        values = {
            "predicted_label": names[idx],
            "probability": repr(probability),
            "probabilities": str(probabilities),
            "labels": str(names),
        }
        w.writerow([values[k] for k in keys])
    return out.getvalue().encode()


@pytest.mark.parametrize(
    "keys",
    [
        ["predicted_label"],
        ["predicted_label", "probability"],
        ["probabilities", "labels"],
        ALL4,
        ["labels", "probability", "predicted_label"],
    ],
)
def test_hpo_multiclass_iris(iris: dict[str, Any], keys: list[str]) -> None:
    containers = ap.select_inference_response_keys(churn_like("classification"), keys)
    chain = ap.Chain(
        containers,
        predict=iris["model"].predict_proba,
        transform=iris["scaler"].transform,
        classes=iris["classes"],
    )
    X = iris["X"][::7]
    body = smp.encode_request(X, CSV)
    run = chain.invoke(body, CSV)
    assert [h.role for h in run.hops] == ["feature-transform", "algorithm", "inverse-label-transform"]
    assert [(h.content_type, h.accept) for h in run.hops] == [(CSV, RIO), (RIO, CSV), (CSV, CSV)]
    # container 1: sparse float32 RecordIO-protobuf of the scaled features
    fe = smp.decode_request(run.hops[0].response, RIO)
    assert fe.to_numpy().tolist() == iris["scaler"].transform(X).astype(np.float32).tolist()
    # container 2: the XGBoost answer (class indices), under its OUTPUT
    # the algorithm container sees container 1's float32 features
    z32 = iris["scaler"].transform(X).astype(np.float32)
    p32 = iris["model"].predict_proba(z32).astype(np.float32)
    c2_keys = containers[1]["Environment"][OUT]
    algo = ap.decode_response(run.hops[1].response, CSV, c2_keys, role="algorithm")
    if "predicted_label" in algo.label:
        assert algo.label["predicted_label"].tolist() == np.argmax(p32, axis=1).tolist()
    if "probabilities" in algo.label:
        assert algo.label["probabilities"].tolist() == p32.astype(np.float64).tolist()
    assert containers[2]["Environment"][INP] == c2_keys
    # container 3: the response the caller receives
    assert run.body == expected_rows(iris["classes"], p32, keys, binary=False)
    final = ap.decode_response(run.body, CSV, keys)
    if "predicted_label" in keys:
        want = [iris["classes"][i] for i in iris["model"].predict(z32)]
        assert final.label["predicted_label"].tolist() == want
    if "probabilities" in keys:
        np.testing.assert_allclose(
            final.label["probabilities"],
            iris["model"].predict_proba(iris["scaler"].transform(X)),
            rtol=1e-6,
            atol=1e-7,
        )


def test_hpo_binary_breast_cancer(cancer: dict[str, Any]) -> None:
    containers = ap.select_inference_response_keys(churn_like("classification"), ALL4)
    chain = ap.Chain(
        containers,
        predict=cancer["model"].predict_proba,
        transform=cancer["scaler"].transform,
        classes=cancer["classes"],
    )
    X = cancer["X"][:40]
    run = chain.invoke(smp.encode_request(X, CSV), CSV)
    proba = cancer["model"].predict_proba(cancer["scaler"].transform(X).astype(np.float32))
    p32 = proba.astype(np.float32)
    assert run.body == expected_rows(cancer["classes"], p32, ALL4, binary=True)
    algo = ap.decode_response(run.hops[1].response, CSV, containers[1]["Environment"][OUT], role="algorithm")
    p = p32[:, 1].astype(np.float64)
    assert algo.label["probability"].tolist() == p.tolist()  # HPO binary: P(True class)
    assert algo.label["probabilities"].tolist() == np.column_stack([1.0 - p, p]).tolist()
    final = ap.decode_response(run.body, CSV, ALL4)
    assert final.label["labels"].tolist() == [["malignant", "benign"]] * 40
    assert (final.label["predicted_label"] == np.array(cancer["classes"])[(p > 0.5).astype(int)]).all()
    # JSON and JSON Lines from container 3: every value a string
    js = chain.invoke(smp.encode_request(X[:2], CSV), JSON).body
    obj = json.loads(js)["predictions"][0]
    assert list(obj) == ALL4 and all(isinstance(v, str) for v in obj.values())
    assert ap.decode_response(js, JSON, ALL4) == final[:2]
    jl = chain.invoke(smp.encode_request(X[:2], CSV), JSONL).body
    assert ap.decode_response(jl, JSONL, ALL4) == final[:2]
    # a model that returns P(class 1) alone, (N,), is the same binary:logistic container
    only_p1 = ap.Chain(
        containers,
        predict=lambda Z: cancer["model"].predict_proba(Z)[:, 1],
        transform=cancer["scaler"].transform,
        classes=cancer["classes"],
    )
    assert only_p1.invoke(smp.encode_request(X, CSV), CSV).body == run.body


def test_hpo_regression_diabetes() -> None:
    X, y = load_diabetes(return_X_y=True)
    scaler = StandardScaler().fit(X)
    model = Ridge().fit(scaler.transform(X), y)
    with pytest.raises(ValueError, match="does not support selection"):
        ap.select_inference_response_keys(churn_like("regression"), ["predicted_label"])
    chain = ap.Chain(churn_like("regression"), predict=model.predict, transform=scaler.transform)
    run = chain.invoke(smp.encode_request(X[:5], CSV), CSV)
    pred = model.predict(scaler.transform(X[:5]).astype(np.float32)).astype(np.float32)
    assert (
        run.body == "".join(str(v) + "\n" for v in pred).encode()
    )  # docs/autopilot.md, "Regression models": str(float32) per line
    assert smp.decode_response(run.body, CSV).label["values"].astype(np.float32).tolist() == pred.tolist()
    js = chain.invoke(smp.encode_request(X[:2], CSV), JSON).body
    assert json.loads(js) == {"predictions": [{"score": float(v)} for v in pred[:2]]}


def test_ensemble_iris(iris: dict[str, Any]) -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(iris["X"], iris["y"])
    container = [{"Environment": {SUP: ",".join(ap.POST_PROCESSING_SUPPORTED), OUT: "predicted_label"}}]
    keys = ["predicted_label", "probability", "probabilities", "labels"]
    containers = ap.select_inference_response_keys(container, keys)
    assert containers[0]["Environment"][OUT] == ",".join(keys) and INP not in containers[0]["Environment"]
    chain = ap.Chain(containers, predict=model.predict_proba, classes=iris["classes"])
    X = iris["X"][::25]
    run = chain.invoke(smp.encode_request(X, CSV), JSON)
    assert len(run.hops) == 1 and run.hops[0].role == "ensemble"
    got = ap.decode_response(run.body, JSON, keys, role="ensemble")
    proba = model.predict_proba(X)
    assert got.label["probabilities"].tolist() == proba.tolist()
    assert got.label["probability"].tolist() == proba.max(axis=1).tolist()  # ensemble: P(predicted_label)
    assert got.label["predicted_label"].tolist() == [iris["classes"][i] for i in model.predict(X)]
    first = json.loads(run.body)["predictions"][0]
    assert first["labels"] == iris["classes"] and isinstance(first["probability"], float)
    csv_body = chain.invoke(smp.encode_request(X, CSV), CSV).body
    assert ap.decode_response(csv_body, CSV, keys, role="ensemble") == got


def test_ensemble_binary_breast_cancer(cancer: dict[str, Any]) -> None:
    """Ensembling, binary: probability is P(predicted_label) (the 2023 revision of the AWS
    page; docs/autopilot.md, "The keys"), not P(True)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(cancer["X"], cancer["y"])
    container = [{"Environment": {SUP: ",".join(ap.POST_PROCESSING_SUPPORTED)}}]
    keys = ["probability", "predicted_label"]
    chain = ap.Chain(
        ap.select_inference_response_keys(container, keys),
        predict=model.predict_proba,
        classes=cancer["classes"],
    )
    X = cancer["X"][:30]
    got = ap.decode_response(
        chain.invoke(smp.encode_request(X, CSV), JSONL).body, JSONL, keys, role="ensemble"
    )
    proba = model.predict_proba(X)
    assert got.label["probability"].tolist() == proba.max(axis=1).tolist()
    assert (proba[:, 1] < 0.5).any()  # some records where P(True class) differs
    one_d = ap.Chain(
        chain.containers, predict=lambda X: model.predict_proba(X)[:, 1], classes=cancer["classes"]
    )
    assert one_d.invoke(smp.encode_request(X, CSV)).body == chain.invoke(smp.encode_request(X, CSV)).body


def test_transform_job(cancer: dict[str, Any]) -> None:
    """The .out object of a Batch Transform job (SplitType=Line, AssembleWith=Line)."""
    keys = ["predicted_label", "probability"]
    containers = ap.select_inference_response_keys(churn_like("classification"), keys)
    chain = ap.Chain(
        containers,
        predict=cancer["model"].predict_proba,
        transform=cancer["scaler"].transform,
        classes=cancer["classes"],
    )
    X = cancer["X"][:12]
    data = smp.encode_request(X, CSV) + b"\n"
    whole = chain.invoke(data, CSV).body
    assert chain.transform_job(data, CSV, strategy="MultiRecord") == whole
    assert chain.transform_job(data, CSV, strategy="SingleRecord") == whole
    # the algorithm container runs with SAGEMAKER_BATCH: its CSV ends with a newline
    assert chain.invoke(data, CSV, sagemaker_batch=True).hops[1].response.endswith(b"\n")
    assert not chain.invoke(data, CSV).hops[1].response.endswith(b"\n")
    out = chain.transform_job(data, JSON, strategy="SingleRecord")
    lines = out.splitlines()
    assert len(lines) == 12
    joined = smp.RecordBatch.concat([ap.decode_response(line, JSON, keys) for line in lines])
    assert joined == ap.decode_response(whole, CSV, keys)


def test_chain_checks_the_handoff(iris: dict[str, Any]) -> None:
    containers = ap.select_inference_response_keys(
        churn_like("classification"), ["predicted_label", "probability"]
    )
    containers[2]["Environment"][INP] = "probability,predicted_label"
    with pytest.raises(
        ValueError, match="container 2 expects SAGEMAKER_INFERENCE_INPUT=probability,predicted_label"
    ):
        ap.Chain(containers, predict=iris["model"].predict_proba, classes=iris["classes"])
    with pytest.raises(ValueError, match="needs classes"):
        ap.Chain(churn_like("classification"), predict=iris["model"].predict_proba)
    with pytest.raises(ValueError, match="1, 2 or 3 containers"):
        ap.Chain([], predict=iris["model"].predict_proba)


def test_chain_accept_negotiation(iris: dict[str, Any]) -> None:
    """docs/algorithms.md, "XGBoost", and docs/autopilot.md, "Post-processing container": a
    missing or */* Accept gets the container's
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT; the post-processing container without selectable
    output writes CSV only ("... is not supported during inverse label transformation.")."""
    containers = ap.select_inference_response_keys(churn_like("classification"), ["predicted_label"])
    chain = ap.Chain(
        containers,
        predict=iris["model"].predict_proba,
        transform=iris["scaler"].transform,
        classes=iris["classes"],
    )
    body = smp.encode_request(iris["X"][:3], CSV)
    want = chain.invoke(body, CSV).body
    assert chain.invoke(body, None).body == want
    assert chain.invoke(body, "*/*").body == want
    assert chain.invoke(body, "application/json;q=0.1, text/csv").body == want
    with pytest.raises(smp.NotAcceptableError):
        chain.invoke(body, RIO)
    plain = churn_like("classification")
    del plain[1]["Environment"][OUT]
    del plain[2]["Environment"][INP]
    del plain[2]["Environment"][OUT]
    off = ap.Chain(
        plain,
        predict=iris["model"].predict_proba,
        transform=iris["scaler"].transform,
        classes=iris["classes"],
    )
    assert off.invoke(body, CSV).body == want
    with pytest.raises(smp.NotAcceptableError) as e:
        off.invoke(body, JSON)
    assert (
        e.value.reason
        == "Accept type 'application/json' is not supported during inverse label transformation."
    )
    regression = ap.Chain(churn_like("regression"), predict=lambda Z: Z.sum(axis=1))
    with pytest.raises(smp.NotAcceptableError, match="no JSON Lines without selectable output"):
        regression.invoke(body, JSONL)


def test_dict_records_with_numpy_values() -> None:
    """Per-record dicts may hold numpy scalars and arrays (float32 widened exactly)."""
    rows = [
        {
            "predicted_label": np.int64(1),
            "probability": np.float32(0.8234567),
            "probabilities": np.array([0.17654329538345337, 0.8234567046165466]),
        }
    ]
    keys = ["predicted_label", "probability", "probabilities"]
    assert ap.encode_response(rows, CSV, keys, role="algorithm") == (
        b'1,0.8234567046165466,"[0.17654329538345337, 0.8234567046165466]"'
    )
    assert ap.encode_response([{"predicted_label": np.str_("cat")}], JSON, ["predicted_label"]) == (
        b'{"predictions": [{"predicted_label": "cat"}]}'
    )


# ======================================================================================
# RecordIO-protobuf from the algorithm container (docs/autopilot.md, "Algorithm container")
# ======================================================================================


def xgboost_recordio(predictions: list[dict[str, Any]]) -> bytes:
    """What the XGBoost container writes, built the way it builds it: protobuf Records,
    every value a Float32Tensor (scalars wrapped), a serialized-record buffer that is
    never cleared, the SDK's framing."""
    from sagemaker.serializer_utils import _write_recordio

    from sm_payloads._proto import record_pb2

    out = io.BytesIO()
    seen = io.BytesIO()
    record = record_pb2.Record()  # type: ignore[attr-defined]
    for item in predictions:
        for key, value in item.items():
            record.label[key].float32_tensor.values.extend(value if isinstance(value, list) else [value])
        seen.write(record.SerializeToString())
        record.Clear()
        _write_recordio(out, seen.getvalue())
    return out.getvalue()


@pytest.mark.sdk
def test_recordio_reads_the_xgboost_accumulation() -> None:
    """Frame i holds records 0..i (the container never resets its buffer): last value wins."""
    preds = [
        {
            "predicted_label": 1,
            "labels": [0, 1],
            "probability": 0.8234567,
            "probabilities": [0.1765433, 0.8234567],
        },
        {"predicted_label": 0, "labels": [0, 1], "probability": 0.1, "probabilities": [0.9, 0.1]},
        {"predicted_label": 1, "labels": [0, 1], "probability": 0.75, "probabilities": [0.25, 0.75]},
    ]
    body = xgboost_recordio(preds)
    got = ap.decode_response(body, RIO, ALL4, role="algorithm")
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    assert got.label["predicted_label"].tolist() == [1.0, 0.0, 1.0]
    assert got.label["probability"].tolist() == [f32(0.8234567), f32(0.1), 0.75]
    assert got.label["probabilities"].tolist() == [[f32(v) for v in p["probabilities"]] for p in preds]
    assert got.label["labels"].tolist() == [[0.0, 1.0]] * 3


@pytest.mark.sdk
def test_recordio_writes_what_xgboost_writes() -> None:
    """Same frames, and each frame the same protobuf message (map entry order is the
    protobuf runtime's choice, so messages are compared, not bytes)."""
    from sagemaker.serializer_utils import read_recordio

    from sm_payloads._proto import record_pb2

    batch = xgb_binary([0.8234567, 0.1])
    ours = ap.encode_response(
        batch, RIO, "probabilities,predicted_label,probability,labels", role="algorithm"
    )
    preds = [
        {
            "predicted_label": 1,
            "labels": [0, 1],
            "probability": 0.8234567046165466,
            "probabilities": [0.17654329538345337, 0.8234567046165466],
        },
        {
            "predicted_label": 0,
            "labels": [0, 1],
            "probability": 0.10000000149011612,
            "probabilities": [0.8999999985098839, 0.10000000149011612],
        },
    ]
    theirs = xgboost_recordio(preds)
    assert len(ours) == len(theirs)
    a, b = list(read_recordio(io.BytesIO(ours))), list(read_recordio(io.BytesIO(theirs)))
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        mx, my = record_pb2.Record(), record_pb2.Record()  # type: ignore[attr-defined]
        mx.ParseFromString(x)
        my.ParseFromString(y)
        assert mx == my
    # the writer's map order is the container's insertion order
    assert ours[8:60].startswith(b"\x12\x1b\n\x0fpredicted_label")
    got = ap.decode_response(ours, RIO, ALL4, role="algorithm")
    assert (
        got.label["probabilities"].tolist()
        == batch.label["probabilities"].astype(np.float32).astype(np.float64).tolist()
    )


def test_recordio_nan_and_errors() -> None:
    batch = smp.RecordBatch(
        label={
            "predicted_label": np.array([1.0, 0.0]),
            "probabilities": smp.Ragged.from_lists([[0.5, 0.5], None]),
        }
    )
    body = ap.encode_response(batch, RIO, ["predicted_label", "probabilities"], role="algorithm")
    got = ap.decode_response(body, RIO, ["predicted_label", "probabilities"], role="algorithm")
    assert got.label["probabilities"].to_lists() == [[0.5, 0.5], None]
    with pytest.raises(smp.DecodeError, match="unexpected key 'probabilities'; expected predicted_label"):
        ap.decode_response(body, RIO, ["predicted_label"], role="algorithm")
    with pytest.raises(smp.DecodeError, match="no 'probability'"):
        ap.decode_response(body, RIO, ["predicted_label", "probabilities", "probability"], role="algorithm")
    with pytest.raises(smp.DecodeError, match="features"):
        ap.decode_response(
            smp.encode_request(np.ones((1, 2), np.float32), RIO), RIO, ["probability"], role="algorithm"
        )
    with pytest.raises(smp.DecodeError, match="bad magic"):
        ap.decode_response(b"\x00" * 8, RIO, ["probability"], role="algorithm")
    with pytest.raises(smp.NotAcceptableError) as e:
        ap.encode_response(pp_batch(), RIO, ALL4)  # the post-processing container writes no RecordIO
    assert e.value.reason == "the post-processing container does not write application/x-recordio-protobuf"
    assert len(ap.decode_response(b"", RIO, ALL4, role="algorithm")) == 0


def _as_float32(col: Any) -> Any:
    with np.errstate(over="ignore"):
        if isinstance(col, smp.Ragged):
            return smp.Ragged(col.values.astype(np.float32).astype(np.float64), col.offsets, col.valid)
        return col.astype(np.float32).astype(np.float64)


@given(responses())
def test_recordio_round_trip(case: tuple[smp.RecordBatch, list[str], str]) -> None:
    """Algorithm role, RecordIO-protobuf: float32 values (what Float32Tensors hold) come back."""
    batch, keys, role = case
    if role != "algorithm":
        return
    b32 = smp.RecordBatch(label={k: _as_float32(c) for k, c in batch.label.items()}, n=len(batch))
    for k in ("probabilities", "labels"):
        col = b32.label.get(k)
        if isinstance(col, np.ndarray) and col.shape[1] == 1 and np.isnan(col).any():
            return  # a one-value list [nan] is the container's NaN for the key: read as missing
        if isinstance(col, smp.Ragged) and any(
            row is not None and len(row) == 1 and math.isnan(row[0]) for row in col.to_lists()
        ):
            return  # the same in a ragged column (found by CI's hypothesis profile)
    body = ap.encode_response(b32, RIO, keys, role="algorithm")
    got = ap.decode_response(body, RIO, keys, role="algorithm")
    assert got.equals(b32), (b32, got)


@given(responses(), st.data())
def test_recordio_mutations_only_decode_error(
    case: tuple[smp.RecordBatch, list[str], str], data: st.DataObject
) -> None:
    batch = case[0]
    b32 = smp.RecordBatch(
        label={k: _as_float32(c) for k, c in batch.label.items() if c.dtype.kind in "f"}, n=len(batch)
    )
    ks = list(b32.label) or ["probability"]
    if not b32.label:
        return
    body = bytearray(ap.encode_response(b32, RIO, ks, role="algorithm"))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(smp.DecodeError):
        ap.decode_response(bytes(body), RIO, ks, role="algorithm")


def test_a_label_that_starts_with_a_bracket_stays_a_label() -> None:
    # Found by the long hypothesis profile: csv.writer leaves "[" unquoted, and the reader's
    # rejoining of bare list literals swallowed the label into the list.
    keys = ["predicted_label", "probabilities"]
    batch = smp.RecordBatch(label={"predicted_label": np.array(["["]), "probabilities": np.array([[0.5]])})
    body = ap.encode_response(batch, "text/csv", keys, role="post-processing")
    assert body == b"[,[0.5]\n"
    got = ap.decode_response(body, "text/csv", keys, role="post-processing")
    assert got.label["predicted_label"].tolist() == ["["]
    assert got.label["probabilities"].tolist() == [[0.5]]


# -- the CSV reader works a piece of records at a time ------------------------------------

_AP_FIELDS = {
    "predicted_label": st.sampled_from(["cat", "dog", "1", "2.5", "nan", "", '"a,b"', "True."]),
    "probability": st.sampled_from(["0.5", "1", "nan", "", "1e-3", "x"]),
    "labels": st.sampled_from(["\"['a', 'b']\"", "\"['a']\"", '"[]"', "", "nan"]),
    "probabilities": st.sampled_from(['"[0.25, 0.75]"', '"[0.5, 0.5]"', '"[1.0]"', "", "nan"]),
}


@st.composite
def _autopilot_csv(draw: Any) -> tuple[bytes, list[str], str]:
    keys = draw(st.lists(st.sampled_from(sorted(_AP_FIELDS)), min_size=1, max_size=4, unique=True))
    role = draw(st.sampled_from(["algorithm", "post-processing"]))
    rows = draw(st.lists(st.tuples(*(_AP_FIELDS[k] for k in keys)).map(",".join), max_size=12) | st.just([]))
    sep = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    return (sep.join(rows) + draw(st.sampled_from(["", sep]))).encode(), keys, role


@given(_autopilot_csv(), st.sampled_from([1, 2, 5]))
def test_csv_response_read_in_pieces_equals_read_whole(
    case: tuple[bytes, list[str], str], piece: int
) -> None:
    body, keys, role = case

    def read() -> smp.RecordBatch | tuple[type, str]:
        try:
            return ap.decode_response(body, "text/csv", keys, role=role)
        except smp.DecodeError as e:
            return (type(e), str(e))

    whole = read()
    saved = ap._CSV_PIECE_RECORDS
    ap._CSV_PIECE_RECORDS = piece
    try:
        pieces = read()
    finally:
        ap._CSV_PIECE_RECORDS = saved
    if isinstance(whole, smp.RecordBatch):
        assert isinstance(pieces, smp.RecordBatch) and pieces.equals(whole, bitwise=True)
    else:
        assert pieces == whole


def test_csv_response_columns_across_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ap, "_CSV_PIECE_RECORDS", 2)
    body = b'cat,0.5,"[0.5, 0.5]"\nlong-label,0.25,"[0.25, 0.75]"\n\ndog,nan,nan\nx,1,"[1.0]"\n'
    got = ap.decode_response(body, "text/csv", ["predicted_label", "probability", "probabilities"])
    assert got.label["predicted_label"].tolist() == ["cat", "long-label", "dog", "x"]
    assert got.label["predicted_label"].dtype == np.dtype("<U10")
    assert got.label["probability"].tobytes() == np.array([0.5, 0.25, np.nan, 1.0]).tobytes()
    assert got.label["probabilities"].to_lists() == [[0.5, 0.5], [0.25, 0.75], None, [1.0]]
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(
            body + b"y,z,nan\n", "text/csv", ["predicted_label", "probability", "probabilities"]
        )
    assert (e.value.record_index, e.value.line) == (4, 6)


def test_csv_response_memory_stays_within_the_bound() -> None:
    import tracemalloc

    body = b"cat,0.5\n" * 131072  # 1 MiB: the whole-body tokenizer held 66 x that
    ap.decode_response(body[:8], "text/csv", ["predicted_label", "probability"])
    tracemalloc.start()
    try:
        got = ap.decode_response(body, "text/csv", ["predicted_label", "probability"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got) == 131072 and got.label["probability"].tolist()[-1] == 0.5
    assert peak < 32 * len(body) + 8 * 2**20, peak


# --------------------------------------------------------------------------------------
# Label lists read from the parse tree (review 13, finding 6)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "['a', 'b']",
        ' ["x"]',
        "('a',)",
        "['a', -1]",
        "[1, 2.5]",
        "['a' 'b']",
        "[]",
        "['a', [1]]",
        "x",
        "['\\u00e9']",
        "[True, None]",
        "  ['a']  ",
        "['a',",
        "{'a': 1}",
    ],
)
def test_literal_lists_are_what_literal_eval_reads(text: str) -> None:
    import ast

    try:
        value = ast.literal_eval(text)
        want = list(value) if isinstance(value, (list, tuple)) else None
    except (ValueError, SyntaxError):
        want = None
    got = ap._literal_list(text)
    assert (None if got is None else list(got)) == want


def test_label_lists_keep_no_garbage_while_the_collector_is_paused() -> None:
    import tracemalloc

    body = "".join(f"x,\"['{i}', 'b']\"\n" for i in range(60_000)).encode()
    tracemalloc.start()
    try:
        got = smp.autopilot.decode_response(body, "text/csv", "predicted_label,labels")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.label["labels"][59_999] == ["59999", "b"]
    assert got.label["predicted_label"][0] == "x"
    # each literal_eval left about 1 kB of cycles: 60,000 of them were 60 MB
    assert peak <= 32 * len(body) + 8_000_000, peak
