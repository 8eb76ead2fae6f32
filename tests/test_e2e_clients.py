"""End to end with a real client: boto3's sagemaker-runtime calls the example container's
model (examples/serve.py's demo_predict) served by ``sm-payloads serve`` in a child
process on 127.0.0.1 (tests/test_server_e2e.py's ModelServer)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

import sm_payloads as smp

pytest.importorskip("uvicorn", reason="the server runs on uvicorn: pip install 'sm_payloads[serve]'")
boto3 = pytest.importorskip("boto3")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

from tests.test_server_e2e import ROOT, ModelServer  # noqa: E402

RIO = "application/x-recordio-protobuf"
NPY = "application/x-npy"
#: The demo model has two outputs, which an npy body cannot carry: it does not offer npy.
OFFERED = ["application/json", "application/jsonlines", "text/csv", RIO]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    args = [a for t in OFFERED for a in ("--offer", t)]
    with ModelServer(
        ROOT / "examples", "serve:demo_predict", args, {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}
    ) as s:
        yield s.url
        assert s.stop() == 0


@pytest.fixture(scope="module")
def runtime(base_url: str) -> object:
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=boto3.session.Config(retries={"max_attempts": 1}),
    )


X = np.array([[0.25, 0.5, 1.0], [1.0, 1.0, 1.0]], np.float32)


def test_ping(base_url: str) -> None:
    with urllib.request.urlopen(base_url + "/ping") as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("content_type", "accept", "answered"),
    [
        (RIO, RIO, RIO),
        (NPY, RIO, RIO),
        # no Accept, and npy is not offered: the first offered type
        ("application/X-NPY; charset=binary", None, "application/json"),
        (RIO, "*/*", RIO),  # the request's own format
        (RIO, None, RIO),
        ("text/csv", "text/csv", "text/csv"),
        ("text/csv; charset=utf-8", "application/json", "application/json"),
        ("application/json", "application/jsonlines", "application/jsonlines"),
        ("application/jsonlines", "application/json; verbose=true", "application/json; verbose=true"),
        ("application/x-jsonlines", "text/csv;q=0.5, application/x-recordio-protobuf", RIO),  # q=1 wins
        ("text/libsvm", "application/json", "application/json"),
    ],
)
def test_boto3_invoke_endpoint(runtime: object, content_type: str, accept: str | None, answered: str) -> None:
    kwargs = {"Accept": accept} if accept else {}
    out = runtime.invoke_endpoint(  # type: ignore[attr-defined]
        EndpointName="demo", Body=smp.encode_request(X, content_type), ContentType=content_type, **kwargs
    )
    assert out["ContentType"] == answered
    # A CSV response has no header: the client names the columns.
    names = {"keys": ["score", "predicted_label"]} if answered.startswith("text/csv") else {}
    batch = smp.decode_response(out["Body"].read(), answered, **names)
    assert batch.label["score"].tolist() == [1.75 / 3, 1.0]  # float64 means, written exactly
    assert batch.label["predicted_label"].tolist() == [1, 1]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (
            b"\x00" * 8,
            RIO,
            None,
            400,
            "application/x-recordio-protobuf: bad magic 0x00000000, expected 0xced7230a "
            "at byte 0 (record 0)\n",
        ),
        (
            b"x",
            "image/png",
            None,
            415,
            "'image/png': unsupported media type; supported: application/json, application/jsonlines, "
            "text/csv, application/x-recordio-protobuf, application/x-npy, text/libsvm, "
            "application/x-jsonlines, text/x-libsvm\n",
        ),
        # decodes (ragged); the demo model raises
        (
            b"[[1, 2], [3]]",
            "application/json",
            None,
            500,
            "the model failed to produce a prediction (see the container log)\n",
        ),
        (
            smp.encode_request(X, RIO),
            RIO,
            "image/png",
            406,
            "Accept 'image/png': none of the acceptable types can be produced; supported: "
            "application/json, application/jsonlines, text/csv, application/x-recordio-protobuf\n",
        ),
        (
            smp.encode_request(X, RIO),
            RIO,
            NPY,
            406,
            "Accept 'application/x-npy': none of the acceptable types can be produced; supported: "
            "application/json, application/jsonlines, text/csv, application/x-recordio-protobuf\n",
        ),
        (
            b"\x00" * ((1 << 20) + 8),
            RIO,
            None,
            413,
            "request body of 1048584 bytes exceeds the limit of 1048576 bytes\n",
        ),
    ],
)
def test_boto3_sees_each_error_status(
    runtime: object, body: bytes, content_type: str, accept: str | None, status: int, message: str
) -> None:
    kwargs = {"Accept": accept} if accept else {}
    with pytest.raises(botocore_exceptions.ClientError) as e:
        runtime.invoke_endpoint(EndpointName="demo", Body=body, ContentType=content_type, **kwargs)  # type: ignore[attr-defined]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # botocore reads a plain-text error body as the message, and the status as the code
    assert e.value.response["Error"] == {"Message": message, "Code": str(status)}
