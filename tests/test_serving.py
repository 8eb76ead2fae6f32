"""smp.serving: status codes, negotiation and error hygiene of the sans-I/O handler."""

from __future__ import annotations

import logging
from typing import Any

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
    # 0 is no limit (Batch Transform's MaxPayloadInMB=0 streams payloads of any size)
    assert handle(big, RIO, None, total, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}).status == 400
    # not a decimal count of MB: the default
    for bad in ("-1", "1.5", "", "\u0661"):
        assert handle(big, RIO, None, total, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": bad}).status == 413
    # honoured when larger than the default: 7 MiB passes 6 MiB + 1 and refuses 7 MiB + 1
    over7 = b"\x00" * (7 * 2**20 + 1)
    r = handle(over7, RIO, None, total, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "7"})
    assert (r.status, r.body) == (413, b"request body of 7340033 bytes exceeds the limit of 7340032 bytes\n")


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


def test_a_type_that_cannot_carry_the_answer_is_406_naming_those_that_can() -> None:
    two = lambda b: smp.RecordBatch(label={"a": np.ones(len(b)), "b": np.zeros(len(b))})  # noqa: E731
    r = handle(BODY, RIO, NPY, two, env={}, offered=[NPY, "application/json", "text/csv"])
    assert (r.status, r.body) == (
        406,
        b"the prediction cannot be written as application/x-npy: an npy payload holds one array; the "
        b"batch's label has 2 ('a', 'b'); ask for one of: application/json, text/csv\n",
    )
    dicts = lambda b: [{"label": "cat"}] * len(b)  # noqa: E731
    r = handle(BODY, RIO, NPY, dicts, env={}, offered=[NPY, "application/jsonlines", RIO])
    assert (r.status, r.body) == (
        406,
        b"the prediction cannot be written as application/x-npy: object arrays need pickle, which is "
        b"never written; ask for one of: application/jsonlines, application/x-recordio-protobuf\n",
    )
    # nothing offered can write it: the server's fault
    r = handle(BODY, RIO, NPY, two, env={}, offered=[NPY])
    assert (r.status, r.body) == (
        500,
        b"the prediction cannot be written as application/x-npy: an npy payload holds one array; the "
        b"batch's label has 2 ('a', 'b')\n",
    )


def test_response_limit() -> None:
    # 2 records of float32 scores in RecordIO-protobuf: 2 frames
    ok = handle(BODY, RIO, None, total, env={})
    size = len(ok.body)
    assert ok.status == 200 and size > 20
    message = (
        f"the prediction written as {RIO} is {size} bytes, over the response limit of {size - 1} bytes "
        "(SAGEMAKER_MAX_RESPONSE_IN_MB); send fewer records per request\n"
    ).encode()
    assert handle(BODY, RIO, None, total, env={}, max_response_bytes=size - 1) == Response(
        413, message, "text/plain; charset=utf-8"
    )
    assert handle(BODY, RIO, None, total, env={}, max_response_bytes=size) == ok
    big = lambda b: smp.RecordBatch(label={"score": np.zeros(2**20, np.float64)})  # noqa: E731
    r = handle(BODY, RIO, "application/x-npy", big, env={"SAGEMAKER_MAX_RESPONSE_IN_MB": "9"})
    assert (r.status, len(r.body)) == (200, 128 + 8 * 2**20)  # npy: 128-byte header + 8 MiB
    r = handle(BODY, RIO, "application/x-npy", big, env={})  # the 6 MiB default
    assert r.status == 413 and r.body.startswith(
        b"the prediction written as application/x-npy is 8388736 bytes"
    )
    r = handle(BODY, RIO, "application/x-npy", big, env={"SAGEMAKER_MAX_RESPONSE_IN_MB": "0"})
    assert r.status == 200


def test_predict_may_return_arrays_or_dicts() -> None:
    r = handle(
        BODY, RIO, None, lambda b: [{"closest_cluster": 1, "distance_to_cluster": 0.5}] * len(b), env={}
    )
    out = smp.decode_response(r.body, RIO)
    assert out.label["closest_cluster"].tolist() == [1, 1]
    r = handle(BODY, RIO, NPY, lambda b: b.to_numpy() * 2, env={})
    assert smp.decode_response(r.body, NPY).label["predictions"].tolist() == [[2.0, 4.0], [6.0, 9.0]]


@pytest.mark.parametrize(
    ("prediction", "accept", "expected"),
    [
        ([0.25, 0.5, 1.0], "text/csv", b"0.25\n0.5\n1.0\n"),
        ((1, 2, 3), "application/jsonlines", b'{"values":1}\n{"values":2}\n{"values":3}\n'),
        (
            [np.float32(0.5), 2, 3.0],
            "application/json",
            b'{"predictions":[{"values":0.5},{"values":2.0},{"values":3.0}]}',
        ),
        # not one number per record: what encode_response makes of a list, as before
        ([0.25, 0.5], "application/json", b'{"predictions":[{"values":[0.25,0.5]}]}'),
        ([True, False, True], "application/json", b'{"predictions":[{"values":[1,0,1]}]}'),
        ([[1], [2], [3]], "text/csv", b"1\n2\n3\n"),
    ],
)
def test_a_list_of_one_number_per_record_is_one_output_per_record(
    prediction: Any, accept: str, expected: bytes
) -> None:
    """``model.predict(X).tolist()``: answered as the 1-D array it came from, not as one
    record holding every value."""
    resp = handle(b"1,2\n3,4\n5,6\n", "text/csv", accept, lambda b: prediction, env={})
    assert (resp.status, resp.body) == (200, expected)


def test_an_empty_list_for_an_empty_batch_is_no_records() -> None:
    """A body of blank lines is zero records (libsvm); an empty list back is zero answers,
    not one record with no values."""
    seen: list[int] = []

    def predict(batch: smp.RecordBatch) -> list[float]:
        seen.append(len(batch))
        return []

    resp = handle(b"\n\n", "text/libsvm", "application/json", predict, env={})
    assert (resp.status, resp.body, seen) == (200, b'{"predictions":[]}', [0])


def test_handler_binds_predict_and_environment() -> None:
    h = Handler(total, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": NPY})
    assert h.ping() == Response(200, b"", "text/plain; charset=utf-8")
    assert h(BODY, RIO, None).content_type == NPY
    assert h(BODY, RIO, RIO).content_type == RIO
    only = Handler(total, env={}, offered=[NPY])
    assert only(BODY, RIO, None).content_type == NPY
    assert only(BODY, RIO, RIO).status == 406


_TEXT = "text/plain; charset=utf-8"
_GARBAGE = b"garbage" * 100
_RIO_ERR = b"application/x-recordio-protobuf: "
_SVM_ERR = b"text/libsvm: token 1: label "
_NPY_NEWLINE = b"application/x-npy: bad magic b'\\n', expected b'\\x93NUMPY' at byte 0\n"
_NPY_NO_VERSION = b"application/x-npy: truncated version at byte 6\n"
_NPY_GARBAGE = b"application/x-npy: bad magic b'garbag', expected b'\\x93NUMPY' at byte 0\n"
_NO_RECORDS = (200, "application/json", b'{"predictions":[]}')


def _empty(essence: str) -> tuple[int, str, bytes]:
    return (400, _TEXT, f"the request body is empty; send at least one record as {essence}\n".encode())


# An empty body is a 400 in every format; a body of blank lines is zero records in libsvm:
# the model answers an empty batch (libsvm is not a response type, so */* falls back to the
# first offered, JSON).
HOSTILE = [
    (b"", RIO, _empty(RIO)),
    (b"\n", RIO, (400, _TEXT, _RIO_ERR + b"truncated frame header (1 of 8 bytes) at byte 0 (record 0)\n")),
    (
        b"\x93NUMPY",
        RIO,
        (400, _TEXT, _RIO_ERR + b"truncated frame header (6 of 8 bytes) at byte 0 (record 0)\n"),
    ),
    # b"garb" read as a little-endian uint32
    (
        _GARBAGE,
        RIO,
        (400, _TEXT, _RIO_ERR + b"bad magic 0x62726167, expected 0xced7230a at byte 0 (record 0)\n"),
    ),
    (b"", NPY, _empty(NPY)),
    (b"\n", NPY, (400, _TEXT, _NPY_NEWLINE)),
    (b"\x93NUMPY", NPY, (400, _TEXT, _NPY_NO_VERSION)),
    (_GARBAGE, NPY, (400, _TEXT, _NPY_GARBAGE)),
    (b"", "text/libsvm", _empty("text/libsvm")),
    (b"\n", "text/libsvm", _NO_RECORDS),
    # the label token shown as repr() of its backslash-escaped text
    (
        b"\x93NUMPY",
        "text/libsvm",
        (400, _TEXT, _SVM_ERR + b"'\\\\x93NUMPY' is not a number at line 1 (byte 0, record 0)\n"),
    ),
    (
        _GARBAGE,
        "text/libsvm",
        (
            400,
            _TEXT,
            _SVM_ERR + b"'garbagegarbagegarbagegar...' is not a number at line 1 (byte 0, record 0)\n",
        ),
    ),
    (b"", "application/x-npy; charset=binary", _empty(NPY)),
    (b"", "text/csv", _empty("text/csv")),
    (b"", "Application/JSON", _empty("application/json")),
    (b"", "application/x-jsonlines", _empty("application/x-jsonlines")),
    (b"\n", "application/x-npy; charset=binary", (400, _TEXT, _NPY_NEWLINE)),
    (b"\x93NUMPY", "application/x-npy; charset=binary", (400, _TEXT, _NPY_NO_VERSION)),
    (_GARBAGE, "application/x-npy; charset=binary", (400, _TEXT, _NPY_GARBAGE)),
]


@pytest.mark.parametrize(("body", "ct", "expected"), HOSTILE)
def test_hostile_bodies_never_raise(body: bytes, ct: str, expected: tuple[int, str, bytes]) -> None:
    r = handle(body, ct, "*/*", total, env={})
    assert (r.status, r.content_type, r.body) == expected


@pytest.mark.parametrize(
    "content_type",
    [
        *smp.registry.CODECS,
        *smp.registry.ALIASES,
        "Text/CSV; label_size=1; charset=UTF-8",
        "text/csv ; header = present",
        "application/json; verbose=true",
        "application/x-npy; charset=binary",
        "text/x-libsvm",
    ],
)
def test_the_request_codec_is_what_get_codec_gives(content_type: str) -> None:
    """handle() looks the codec up from its one parse of the Content-Type."""
    from sm_payloads.serving import _request_codec

    assert _request_codec(smp.MediaType.parse(content_type), content_type) == smp.get_codec(content_type)


@pytest.mark.parametrize("content_type", ["image/png", "Image/PNG; q=1", "text/csv; label_size=x"])
def test_the_request_codec_fails_as_get_codec_fails(content_type: str) -> None:
    from sm_payloads.serving import _request_codec

    with pytest.raises(smp.UnsupportedMediaTypeError) as ours:
        _request_codec(smp.MediaType.parse(content_type), content_type)
    with pytest.raises(smp.UnsupportedMediaTypeError) as theirs:
        smp.get_codec(content_type)
    assert str(ours.value) == str(theirs.value)


def test_one_parse_of_the_content_type_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request's Content-Type is parsed once; the Accept header once (by negotiate),
    and the chosen response type once (by the response codec's lookup)."""
    seen: list[str] = []
    parse = smp.MediaType.parse.__func__  # type: ignore[attr-defined]

    def counting(cls: type[smp.MediaType], value: str) -> smp.MediaType:
        seen.append(value)
        return parse(cls, value)  # type: ignore[no-any-return]

    ct = "text/csv; label_size=0"
    body = smp.encode_request(X, ct)
    monkeypatch.setattr(smp.MediaType, "parse", classmethod(counting))
    r = handle(body, ct, "application/json;q=0.5, text/csv", total, env={}, offered=[RIO, "text/csv"])
    monkeypatch.undo()
    assert (r.status, r.content_type, r.body) == (200, "text/csv", b"3.0\n7.5\n")
    assert seen.count(ct) == 1


def test_an_aliased_request_type_is_answered_in_its_own_format() -> None:
    """No Accept: the answer is in the request's format, an alias naming its format."""
    r = handle(b"[1, 2]\n", "application/x-jsonlines", None, lambda b: b, env={})
    assert (r.status, r.content_type, r.body) == (200, "application/jsonlines", b'{"values":[1.0,2.0]}\n')
