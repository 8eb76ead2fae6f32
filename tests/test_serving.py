"""smp.serving: status codes, negotiation and error hygiene of the sans-I/O handler."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads.serving import DEFAULT_MAX_PAYLOAD_BYTES, Handler, Response, handle

RIO = "application/x-recordio-protobuf"
NPY = "application/x-npy"


def total(batch: smp.RecordBatch) -> smp.RecordBatch:
    return smp.RecordBatch(label={"score": batch.to_numpy().sum(axis=1)})


X = np.array([[1.0, 2.0], [3.0, 4.5]], np.float32)
BODY = smp.encode_request(X, RIO)


def test_round_trip_in_the_request_format_by_default() -> None:
    r = handle(BODY, RIO, None, total, env={})
    assert r == Response(200, r.body, RIO) and r.ok
    assert smp.decode_response(r.body, RIO).label["score"].tolist() == [3.0, 7.5]


@pytest.mark.parametrize(
    ("accept", "env", "status", "content_type"),
    [
        (None, {}, 200, RIO),
        ("*/*", {}, 200, RIO),
        ("*/*", {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": NPY}, 200, NPY),
        (None, {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": NPY}, 200, NPY),
        ("application/x-npy", {}, 200, NPY),
        ("Application/X-NPY;q=0.9, image/png", {}, 200, NPY),
        ("image/png", {}, 406, "text/plain; charset=utf-8"),
        ("text/libsvm", {}, 406, "text/plain; charset=utf-8"),
        ("text/csv;q=5", {}, 406, "text/plain; charset=utf-8"),
        ("*/*", {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "image/png"}, 500, "text/plain; charset=utf-8"),
    ],
)
def test_accept_and_default_accept(
    accept: str | None, env: dict[str, str], status: int, content_type: str
) -> None:
    r = handle(BODY, RIO, accept, total, env=env)
    assert (r.status, r.content_type) == (status, content_type)
    if status == 200 and content_type == NPY:
        assert smp.decode_response(r.body, NPY).label["predictions"].tolist() == [3.0, 7.5]


def test_error_statuses_and_messages() -> None:
    r = handle(b"\x00" * 12, RIO, None, total, env={})
    assert r.status == 400
    assert r.body == (
        b"application/x-recordio-protobuf: bad magic 0x00000000, expected 0xced7230a at byte 0 (record 0)\n"
    )
    r = handle(BODY, "image/png", None, total, env={})
    assert r.status == 415 and r.body.startswith(b"'image/png': unsupported media type; supported: ")
    r = handle(BODY, "text/csv;;=", None, total, env={})
    assert r.status == 415
    r = handle(BODY, None, None, total, env={})
    assert r.status == 415 and r.body.startswith(b"the request has no Content-Type; send one of: ")
    r = handle(BODY, None, None, total, env={"SAGEMAKER_DEFAULT_INVOCATIONS_CONTENT_TYPE": RIO})
    assert r.status == 200
    r = handle(BODY, RIO, None, total, env={}, max_payload_bytes=len(BODY) - 1)
    assert r.status == 413
    assert (
        r.body == f"request body of {len(BODY)} bytes exceeds the limit of {len(BODY) - 1} bytes\n".encode()
    )


def test_size_limit_from_environment_and_default() -> None:
    big = b"\x00" * (DEFAULT_MAX_PAYLOAD_BYTES + 1)
    assert handle(big, RIO, None, total, env={}).status == 413
    assert handle(big, RIO, None, total, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "7"}).status == 400
    assert handle(BODY, RIO, None, total, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}).status == 413


def test_predict_exceptions_are_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    def broken(batch: smp.RecordBatch) -> smp.RecordBatch:
        raise KeyError("secret-table-name")

    with caplog.at_level(logging.ERROR, logger="sm_payloads.serving"):
        r = handle(BODY, RIO, None, broken, env={})
    assert r.status == 500
    assert r.body == b"the model failed to produce a prediction (see the container log)\n"
    assert b"secret" not in r.body
    assert "secret-table-name" in caplog.text  # the traceback goes to the log


def test_unencodable_prediction_is_500() -> None:
    r = handle(BODY, RIO, None, lambda b: object(), env={})
    assert r.status == 500 and r.body.startswith(
        b"the prediction cannot be written as application/x-recordio-protobuf"
    )
    r = handle(BODY, RIO, None, lambda b: [{"a": 1}, {"b": 2}], env={})
    assert r.status == 500
    assert r.body == (
        b"the prediction cannot be written as application/x-recordio-protobuf: "
        b"record 1 has no 'a' (every record needs every output key)\n"
    )


def test_predict_may_return_arrays_or_dicts() -> None:
    r = handle(
        BODY, RIO, None, lambda b: [{"closest_cluster": 1, "distance_to_cluster": 0.5}] * len(b), env={}
    )
    out = smp.decode_response(r.body, RIO)
    assert out.label["closest_cluster"].tolist() == [1, 1]
    r = handle(BODY, RIO, NPY, lambda b: b.to_numpy() * 2, env={})
    assert smp.decode_response(r.body, NPY).label["predictions"].tolist() == [[2.0, 4.0], [6.0, 9.0]]


def test_handler_binds_predict_and_environment() -> None:
    h = Handler(total, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": NPY})
    assert h.ping() == Response(200, b"", "text/plain; charset=utf-8")
    assert h(BODY, RIO, None).content_type == NPY
    assert h(BODY, RIO, RIO).content_type == RIO
    only = Handler(total, env={}, offered=[NPY])
    assert only(BODY, RIO, None).content_type == NPY
    assert only(BODY, RIO, RIO).status == 406


@pytest.mark.parametrize("body", [b"", b"\n", b"\x93NUMPY", b"garbage" * 100])
@pytest.mark.parametrize("ct", [RIO, NPY, "text/libsvm", "application/x-npy; charset=binary"])
def test_hostile_bodies_never_raise(body: bytes, ct: str) -> None:
    r = handle(body, ct, "*/*", total, env={})
    assert r.status in (200, 400, 500)
