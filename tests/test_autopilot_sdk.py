"""smp.autopilot.select_inference_response_keys against the SageMaker SDK v2 itself.

The oracle is ``AutoML.validate_and_update_inference_response`` (and the identical code in
``AutoMLV2``), the path ``AutoML.create_model(inference_response_keys=...)`` takes
(docs/autopilot.md, "Selecting keys as the SageMaker SDK does"). Every container layout,
every non-empty subset of the four keys in every order, plus bad keys: same environment
updates, same ValueError messages.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from sagemaker.automl.automl import AutoML
from sagemaker.automl.automlv2 import AutoMLV2

from sm_payloads import autopilot

pytestmark = pytest.mark.sdk

SUP, INP, OUT = "SAGEMAKER_INFERENCE_SUPPORTED", "SAGEMAKER_INFERENCE_INPUT", "SAGEMAKER_INFERENCE_OUTPUT"
KEYS = ["predicted_label", "probability", "probabilities", "labels"]

#: Every ordering of every non-empty subset of the four keys (15 subsets, 64 sequences).
ORDERINGS = [
    list(p) for r in range(1, 5) for c in itertools.combinations(KEYS, r) for p in itertools.permutations(c)
]


def _img(name: str) -> str:
    return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"


#: The real 2021 HPO classification chain (docs/autopilot.md, "Containers"; printed in
#: amazon-sagemaker-examples, autopilot/autopilot_customer_churn.ipynb).
CHURN = [
    {
        "Image": _img("sagemaker-sklearn-automl:0.2-1-cpu-py3"),
        "ModelDataUrl": "s3://bucket/fe/model.tar.gz",
        "Environment": {
            "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "1",
            "AUTOML_TRANSFORM_MODE": "feature-transform",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/x-recordio-protobuf",
            "SAGEMAKER_PROGRAM": "sagemaker_serve",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    },
    {
        "Image": _img("sagemaker-xgboost:1.0-1-cpu-py3"),
        "ModelDataUrl": "s3://bucket/algo/model.tar.gz",
        "Environment": {
            "MAX_CONTENT_LENGTH": "20971520",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
            OUT: "predicted_label",
            SUP: "predicted_label,probability,probabilities",
        },
    },
    {
        "Image": _img("sagemaker-sklearn-automl:0.2-1-cpu-py3"),
        "ModelDataUrl": "s3://bucket/ilt/model.tar.gz",
        "Environment": {
            "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
            INP: "predicted_label",
            OUT: "predicted_label",
            SUP: "predicted_label,probability,labels,probabilities",
            "SAGEMAKER_PROGRAM": "sagemaker_serve",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    },
]

#: The SDK unit test's fixture order of SUPPORTED (sagemaker-python-sdk,
#: tests/unit/sagemaker/automl/test_auto_ml.py), no defaults set.
SDK_FIXTURE = [
    {"Image": _img("fe"), "Environment": {"SAGEMAKER_PROGRAM": "sagemaker_serve"}},
    {"Image": _img("algo"), "Environment": {SUP: "probability,probabilities,predicted_label"}},
    {"Image": _img("ilt"), "Environment": {SUP: "probability,probabilities,predicted_label,labels"}},
]

LAYOUTS: dict[str, list[dict[str, Any]]] = {
    "hpo-classification-churn": CHURN,
    "hpo-classification-sdk-fixture": SDK_FIXTURE,
    "hpo-classification-spaces": [
        {"Environment": {}},
        {"Environment": {SUP: "predicted_label, probability, probabilities"}},
        {"Environment": {SUP: " predicted_label , probability,labels , probabilities "}},
    ],
    "hpo-classification-no-env-first": [
        {"Image": _img("fe")},
        {"Environment": {SUP: "predicted_label,probability,probabilities"}},
        {"Environment": {SUP: "predicted_label,labels,probability,probabilities"}},
    ],
    "hpo-regression": [
        {"Image": _img("fe"), "Environment": {"AUTOML_TRANSFORM_MODE": "feature-transform"}},
        {"Image": _img("xgb"), "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}},
    ],
    "hpo-regression-no-env": [{"Image": _img("fe")}, {"Image": _img("xgb")}],
    "ensemble-classification": [
        {"Image": _img("ens"), "Environment": {SUP: "predicted_label,labels,probability,probabilities"}}
    ],
    "ensemble-classification-default-output": [
        {
            "Image": _img("ens"),
            "Environment": {SUP: "predicted_label,probability,labels,probabilities", OUT: "predicted_label"},
        }
    ],
    "ensemble-regression": [{"Image": _img("ens"), "Environment": {"SAGEMAKER_PROGRAM": "x"}}],
    # the algorithm container supports nothing the user asks for in some orderings:
    "hpo-classification-narrow-algorithm": [
        {"Environment": {}},
        {"Environment": {SUP: "predicted_label"}},
        {"Environment": {SUP: "predicted_label,probability,labels,probabilities"}},
    ],
    # a middle container without SUPPORTED resets the hand-off
    "four-containers-gap": [
        {"Environment": {SUP: "predicted_label,probability,probabilities"}},
        {"Environment": {}},
        {"Environment": {SUP: "predicted_label,probability,probabilities"}},
        {"Environment": {SUP: "predicted_label,probability,labels,probabilities"}},
    ],
}


def sdk(cls: Any, containers: list[dict[str, Any]], keys: Any) -> tuple[str, Any]:
    """("ok", updated containers) or ("error", message) from the SDK, on a deep copy."""
    mine = copy.deepcopy(containers)
    try:
        cls.validate_and_update_inference_response(mine, keys)
    except ValueError as e:
        return "error", str(e)
    return "ok", mine


def ours(containers: list[dict[str, Any]], keys: Any) -> tuple[str, Any]:
    before = copy.deepcopy(containers)
    try:
        got = autopilot.select_inference_response_keys(containers, keys)
    except ValueError as e:
        assert containers == before
        return "error", str(e)
    assert containers == before, "the inputs must stay untouched"
    return "ok", got


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_ordering_of_every_subset(layout: str) -> None:
    containers = LAYOUTS[layout]
    outcomes = set()
    for keys in ORDERINGS:
        want = sdk(AutoML, containers, keys)
        assert ours(containers, keys) == want, keys
        assert sdk(AutoMLV2, containers, keys) == want, keys
        outcomes.add(want[0])
    if layout.startswith(("hpo-regression", "ensemble-regression")):
        assert outcomes == {"error"}
    else:
        assert "ok" in outcomes


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize(
    "keys",
    [
        ["wrong_key", "wrong_label", "probabilities", "probability"],  # the SDK unit test's case
        ["Predicted_Label"],  # case-sensitive
        ["predicted_label", " probability"],  # not stripped
        ["labels", "labels", "predicted_label"],  # duplicates flow through
        ["predicted_label", "predicted_label"],
        ["score"],
        [""],
        ("probability", "labels"),  # a tuple
    ],
)
def test_bad_and_odd_keys(layout: str, keys: list[str]) -> None:
    assert ours(LAYOUTS[layout], keys) == sdk(AutoML, LAYOUTS[layout], keys)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("keys", [None, []])
def test_no_keys_changes_nothing(layout: str, keys: Any) -> None:
    assert ours(LAYOUTS[layout], keys) == ("ok", LAYOUTS[layout])
    assert sdk(AutoML, LAYOUTS[layout], keys) == ("ok", LAYOUTS[layout])


def test_sdk_unit_test_vector() -> None:
    """The SDK's unit test (tests/unit/sagemaker/automl/test_auto_ml.py): the expected
    environments and the error message, verbatim."""
    got = autopilot.select_inference_response_keys(
        SDK_FIXTURE, ["predicted_label", "labels", "probabilities", "probability"]
    )
    assert got[1]["Environment"][OUT] == "predicted_label,probabilities,probability"
    assert got[2]["Environment"][INP] == "predicted_label,probabilities,probability"
    assert got[2]["Environment"][OUT] == "predicted_label,labels,probabilities,probability"
    with pytest.raises(ValueError) as e:
        autopilot.select_inference_response_keys(
            SDK_FIXTURE, ["wrong_key", "wrong_label", "probabilities", "probability"]
        )
    assert str(e.value) == (
        "Requested inference output keys [wrong_key, wrong_label] are unsupported. "
        "The supported inference keys are [probability, probabilities, predicted_label, labels]"
    )


def test_empty_supported_entry_like_the_sdk() -> None:
    """An empty entry in SUPPORTED ("a,,b") is a key "" to the SDK; so it is here."""
    layout = [
        {"Environment": {SUP: "predicted_label,"}},
        {"Environment": {SUP: "predicted_label,,labels"}},
    ]
    for keys in (["", "predicted_label"], ["labels", ""], [""]):
        assert ours(layout, keys) == sdk(AutoML, layout, keys)


def test_result_is_a_deep_copy() -> None:
    got = autopilot.select_inference_response_keys(CHURN, ["probability"])
    got[1]["Environment"]["X"] = "1"
    assert "X" not in CHURN[1]["Environment"]
    assert got[1]["Environment"][OUT] == "probability"
    assert got[2]["Environment"][INP] == "probability"


def test_deliberate_differences() -> None:
    """Documented: a str of keys is a TypeError (the SDK iterates its characters); no
    containers is a ValueError (the SDK: IndexError); Environment None counts as absent."""
    with pytest.raises(TypeError):
        autopilot.select_inference_response_keys(CHURN, "predicted_label")
    with pytest.raises(ValueError, match="no containers"):
        autopilot.select_inference_response_keys([], ["predicted_label"])
    with pytest.raises(IndexError):
        AutoML.validate_and_update_inference_response([], ["predicted_label"])
    with pytest.raises(ValueError, match="does not support selection"):
        autopilot.select_inference_response_keys([{"Environment": None}], ["predicted_label"])
