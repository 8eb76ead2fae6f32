"""End to end: the SageMaker SDK v2 ``Predictor`` with `sm_payloads.sdk` serializers and
deserializers calls the example container's model (examples/serve.py's demo_predict, which
fails on purpose for one input) served by ``sm-payloads serve`` in a child process on
127.0.0.1, through a real boto3 ``sagemaker-runtime`` client; the SDK's own classes on the
same calls are the oracle."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads import sdk

# The SDK builds a JumpStart session when first imported; keep it off the metadata service.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

boto3 = pytest.importorskip("boto3")
botocore_exceptions = pytest.importorskip("botocore.exceptions")
sm_predictor = pytest.importorskip("sagemaker.predictor")
sm_session = pytest.importorskip("sagemaker.session")
sdk_se = pytest.importorskip("sagemaker.base_serializers")
sdk_de = pytest.importorskip("sagemaker.base_deserializers")

pytest.importorskip("uvicorn", reason="the server runs on uvicorn: pip install 'sm_payloads[serve]'")

from tests.test_server_e2e import ROOT, ModelServer  # noqa: E402

pytestmark = pytest.mark.sdk

RIO = "application/x-recordio-protobuf"
JSON = "application/json"
JSONL = "application/jsonlines"
CSV = "text/csv"
NPY = "application/x-npy"
OFFERED = [RIO, JSON, JSONL, CSV]
FAIL = -999.0  # a first feature of this value makes the model raise (a 500)

X = np.array([[0.25, 0.5, 1.0], [1.0, 1.0, 1.0]], np.float32)
SCORES = [1.75 / 3, 1.0]


MODEL = f"""
import sm_payloads as smp
from serve import demo_predict


def predict(batch: smp.RecordBatch) -> smp.RecordBatch:
    if len(batch) and float(batch.to_numpy()[0, 0]) == {FAIL!r}:
        raise RuntimeError("the model failed")
    return demo_predict(batch)
"""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory: Path = tmp_path_factory.mktemp("sdk-model")
    (directory / "model.py").write_text(MODEL)
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "examples")]),
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
    }
    args = [a for t in OFFERED for a in ("--offer", t)]
    with ModelServer(directory, "model:predict", args, env) as server:
        client = boto3.client(
            "sagemaker-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=boto3.session.Config(retries={"max_attempts": 1}),
        )
        yield client
        client.close()
        assert server.stop() == 0


def make_session(runtime: Any) -> Any:
    return sm_session.Session(
        boto_session=boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"),
        sagemaker_runtime_client=runtime,
    )


@pytest.fixture(scope="module")
def session(runtime: Any) -> Any:
    return make_session(runtime)


def predictor(session: Any, serializer: Any, deserializer: Any) -> Any:
    return sm_predictor.Predictor(
        "demo", sagemaker_session=session, serializer=serializer, deserializer=deserializer
    )


def test_session_and_predictor_make_no_network_call(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        calls.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    p = predictor(make_session(runtime), sdk.CSVSerializer(), sdk.CSVDeserializer())
    assert calls == []
    assert (p.content_type, p.accept) == (CSV, (CSV,))
    p.predict(X)
    assert calls and all(a[0] == "127.0.0.1" for a in calls)


def test_csv(session: Any) -> None:
    ours = predictor(session, sdk.CSVSerializer(), sdk.CSVDeserializer()).predict(X)
    theirs = predictor(session, sdk_se.CSVSerializer(), sdk_de.CSVDeserializer()).predict(X)
    assert ours == theirs == [[repr(SCORES[0]), "1"], ["1.0", "1"]]
    one = predictor(session, sdk.CSVSerializer(), sdk.CSVDeserializer()).predict(X[0])  # 1-D: one record
    assert one == [[repr(SCORES[0]), "1"]]


def test_csv_response_as_numpy(session: Any) -> None:
    # A float column and an int column: float64 here, a structured array from the SDK.
    ours = predictor(session, sdk.CSVSerializer(), sdk.NumpyDeserializer(accept=CSV)).predict(X)
    assert ours.dtype == np.float64 and ours.tolist() == [[SCORES[0], 1.0], [1.0, 1.0]]
    theirs = predictor(session, sdk_se.CSVSerializer(), sdk_de.NumpyDeserializer(accept=CSV)).predict(X)
    assert theirs.dtype.names == ("f0", "f1") and theirs["f0"].tolist() == SCORES


def test_recordio_protobuf(session: Any) -> None:
    ours = predictor(session, sdk.RecordSerializer(), sdk.RecordDeserializer()).predict(X)
    theirs = predictor(session, sdk_se.RecordSerializer(), sdk_de.RecordDeserializer()).predict(X)
    assert [r.SerializeToString() for r in ours] == [r.SerializeToString() for r in theirs]
    assert [r.label["score"].float64_tensor.values[0] for r in ours] == SCORES
    assert [r.label["predicted_label"].int32_tensor.values[0] for r in ours] == [1, 1]


@pytest.mark.parametrize("serializer", [sdk.RecordSerializer(), sdk.NumpySerializer(), sdk.CSVSerializer()])
@pytest.mark.parametrize("accept", [None, RIO, CSV, JSON, JSONL])
def test_record_batch_deserializer(session: Any, serializer: Any, accept: str | None) -> None:
    if accept is None:
        deserializer = sdk.RecordBatchDeserializer()
    elif accept == CSV:  # a CSV response has no names: the codec's keys= option gives them
        deserializer = sdk.RecordBatchDeserializer(accept=CSV, keys=["score", "predicted_label"])
    else:
        deserializer = sdk.RecordBatchDeserializer(accept=accept)
    got = predictor(session, serializer, deserializer).predict(X)
    assert isinstance(got, smp.RecordBatch)
    assert got.label["score"].tolist() == pytest.approx(SCORES, rel=1e-15)
    assert got.label["predicted_label"].tolist() == [1, 1]


def test_json(session: Any) -> None:
    data = {"instances": [{"features": row} for row in X.tolist()]}
    ours = predictor(session, sdk.JSONSerializer(), sdk.JSONDeserializer()).predict(data)
    theirs = predictor(session, sdk_se.JSONSerializer(), sdk_de.JSONDeserializer()).predict(data)
    assert ours == theirs
    assert [p["score"] for p in ours["predictions"]] == SCORES
    arr = predictor(session, sdk.JSONSerializer(), sdk.JSONDeserializer()).predict({"instances": X})
    assert arr == ours


def test_json_lines(session: Any) -> None:
    data = [{"features": row} for row in X.tolist()]
    ours = predictor(session, sdk.JSONLinesSerializer(), sdk.JSONLinesDeserializer()).predict(data)
    theirs = predictor(session, sdk_se.JSONLinesSerializer(), sdk_de.JSONLinesDeserializer()).predict(data)
    assert ours == theirs
    assert [p["score"] for p in ours] == SCORES and [p["predicted_label"] for p in ours] == [1, 1]


@pytest.mark.parametrize(
    ("serializer", "deserializer", "data", "status"),
    [
        (sdk.CSVSerializer(), sdk.CSVDeserializer(), "1,2\n3", 400),  # rows of different widths
        (sdk.JSONSerializer(), sdk.JSONDeserializer(), {"instances": "x"}, 400),
        (sdk.CSVSerializer(content_type="image/png"), sdk.CSVDeserializer(), X, 415),
        (sdk.CSVSerializer(), sdk.NumpyDeserializer(), X, 406),  # npy is not offered
        (sdk.RecordSerializer(), sdk.RecordDeserializer(), np.zeros((1, 200_000)), 413),
        (sdk.CSVSerializer(), sdk.CSVDeserializer(), np.array([[FAIL, 1.0]]), 500),
    ],
)
def test_error_statuses_reach_the_predictor(
    session: Any, serializer: Any, deserializer: Any, data: Any, status: int
) -> None:
    with pytest.raises(botocore_exceptions.ClientError) as e:
        predictor(session, serializer, deserializer).predict(data)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
