"""`sm_payloads.sdk.v3` against the real SageMaker Python SDK v3 (issue 24).

The SDK v3 and v2 are both the ``sagemaker`` distribution, so they cannot share an
environment: CI runs this file in a second virtual environment (``.venv-v3``, the
``sdk-v3`` dependency group) with ``SMP_REQUIRE_SDK_V3=1``, which turns the skip below into
a failure. In the main environment (the SDK v2) every test that needs the SDK v3 skips with
that reason; the import error test runs in both.

End to end, the SDK v3's own ``Endpoint.invoke`` (a pydantic model that validates its
serializer and deserializer, and a boto3 ``sagemaker-runtime`` client that honours
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``) calls a loopback HTTP server that records each
request and answers a fixed body, for every serializer / deserializer pair. The expected
request bodies are the SDK v2's own bytes (tests/golden, written by the SDK v2's
serializers), the expected values are written out here.
"""

from __future__ import annotations

import http.server
import importlib
import importlib.metadata
import io
import json
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp
from sm_payloads import sdk as v2

from .helpers import GOLDEN, golden_manifest, manifest_batch

REQUIRE = os.environ.get("SMP_REQUIRE_SDK_V3") == "1"


def _sdk_v3_installed() -> bool:
    """sagemaker-core 2 or later (the SDK v3's; the SDK v2 depends on sagemaker-core 1, whose
    package is ``sagemaker_core``), found without importing the SDK."""
    try:
        major = importlib.metadata.version("sagemaker-core").split(".")[0]
    except importlib.metadata.PackageNotFoundError:
        return False
    return major.isdigit() and int(major) >= 2


HAVE_V3 = _sdk_v3_installed()
WHY = (
    "needs the SageMaker SDK v3 (sagemaker-core 2+), which cannot share an environment with the "
    "SDK v2: CI runs this file in .venv-v3 (pip install -e . --group sdk-v3)"
)
if REQUIRE and not HAVE_V3:
    raise RuntimeError(f"SMP_REQUIRE_SDK_V3=1 but this file {WHY}")
needs_v3 = pytest.mark.skipif(not HAVE_V3, reason=WHY)

RIO = "application/x-recordio-protobuf"
JSON = "application/json"
JSONL = "application/jsonlines"
CSV = "text/csv"
NPY = "application/x-npy"

if HAVE_V3:
    # Endpoint.invoke and sagemaker-serve's import build boto3 clients: dummy credentials
    # and a region, and never the instance metadata service.
    for _k, _v in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ.setdefault(_k, _v)
    from sagemaker.core.deserializers.base import BaseDeserializer
    from sagemaker.core.resources import Endpoint
    from sagemaker.core.serializers.base import BaseSerializer

    from sm_payloads.sdk import v3


# ======================================================================================
# Without the SDK v3
# ======================================================================================


def test_import_without_the_sdk_v3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hidden in both environments (with the SDK v2, sagemaker.core does not exist at all).
    monkeypatch.setitem(sys.modules, "sagemaker", None)
    monkeypatch.setitem(sys.modules, "sagemaker.core.deserializers.base", None)
    monkeypatch.delitem(sys.modules, "sm_payloads.sdk.v3", raising=False)
    with pytest.raises(ImportError) as e:
        importlib.import_module("sm_payloads.sdk.v3")
    assert str(e.value) == (
        "sm_payloads.sdk.v3 needs the SageMaker Python SDK v3 (the sagemaker.core package): "
        "pip install 'sagemaker>=3' (or only 'sagemaker-core>=2'); with the SDK v2, use sm_payloads.sdk"
    )
    assert isinstance(e.value.__cause__, ImportError)
    # the same through the package attribute (sm_payloads.sdk imports v3 on first use)
    import sm_payloads.sdk

    if "v3" in vars(sm_payloads.sdk):  # (hasattr would import it)
        monkeypatch.delattr(sm_payloads.sdk, "v3")
    with pytest.raises(ImportError, match=r"pip install 'sagemaker>=3'"):
        smp.sdk.v3  # noqa: B018


@needs_v3
def test_payload_translator_without_sagemaker_serve_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "PayloadTranslator" in vars(v3):
        monkeypatch.delattr(v3, "PayloadTranslator")
    monkeypatch.delitem(sys.modules, "sm_payloads.sdk._translator", raising=False)
    monkeypatch.setitem(sys.modules, "sagemaker.serve.marshalling.custom_payload_translator", None)
    with pytest.raises(ImportError) as e:
        v3.PayloadTranslator  # noqa: B018
    assert str(e.value) == (
        "sm_payloads.sdk.v3.PayloadTranslator needs sagemaker-serve (the SDK v3's "
        "CustomPayloadTranslator): pip install 'sagemaker>=3' (or only 'sagemaker-serve')"
    )
    # the serializers do not need it
    assert v3.CSVSerializer().serialize([[1.5]]) == b"1.5"


@needs_v3
def test_sdk_v3_is_an_attribute_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import sm_payloads.sdk

    monkeypatch.delattr(sm_payloads.sdk, "v3")
    monkeypatch.delitem(sys.modules, "sm_payloads.sdk.v3")
    fresh = smp.sdk.v3
    assert fresh is sys.modules["sm_payloads.sdk.v3"] and fresh is not v3
    assert issubclass(fresh.RecordSerializer, BaseSerializer)
    assert fresh.PayloadTranslator(CSV).serialize([[1.5]]) == b"1.5"


# ======================================================================================
# The golden bodies: what the SDK v2's serializers wrote (tests/golden, scripts/make_golden.py)
# ======================================================================================


def golden(file: str) -> tuple[bytes, Any]:
    """The body the SDK v2 wrote for one manifest case, and that case's input array."""
    case = next(c for c in golden_manifest()["cases"] if c["file"] == file)
    return (GOLDEN / file).read_bytes(), manifest_batch(case["input"]).to_numpy()


GOLDEN_CSV, X_CSV = golden("sdk/csv/ndarray_f32.csv")
GOLDEN_JSON, X_JSON = golden("sdk/json/ndarray_f32.json")
GOLDEN_JSONL, X_JSONL = golden("sdk/jsonlines/features.jsonl")
GOLDEN_NPY, X_NPY = golden("sdk/npy/ndarray_f32.npy")
GOLDEN_RIO, X_RIO = golden("sdk/recordio-protobuf/dense_f32_nolabel.rec")
GOLDEN_RIO_1D, X_RIO_1D = golden("sdk/recordio-protobuf/record_serializer_1d.rec")

#: name -> (serializer class name, data, the request body the SDK v2 sent, its Content-Type)
SERIALIZERS: dict[str, tuple[str, Callable[[], Any], bytes, str]] = {
    "csv": ("CSVSerializer", lambda: X_CSV, GOLDEN_CSV, CSV),
    "json": ("JSONSerializer", lambda: X_JSON, GOLDEN_JSON, JSON),
    "jsonlines": (
        "JSONLinesSerializer",
        lambda: [{"features": row} for row in X_JSONL.tolist()],
        GOLDEN_JSONL,
        JSONL,
    ),
    "npy": ("NumpySerializer", lambda: X_NPY, GOLDEN_NPY, NPY),
    "recordio": ("RecordSerializer", lambda: X_RIO, GOLDEN_RIO, RIO),
}

NPY_ANSWER = np.array([[0.25, 0.75], [1.5, -2.0]], np.float32)
_npy_buffer = io.BytesIO()
np.save(_npy_buffer, NPY_ANSWER)

#: name -> (deserializer class name, response body, its Content-Type, the value expected)
DESERIALIZERS: dict[str, tuple[str, bytes, str, Callable[[Any], None]]] = {}


def _deserializer(name: str, cls: str, body: bytes, content_type: str) -> Callable[..., Any]:
    def register(check: Callable[[Any], None]) -> Callable[[Any], None]:
        DESERIALIZERS[name] = (cls, body, content_type, check)
        return check

    return register


@_deserializer("csv", "CSVDeserializer", b'0.25,cat\n0.75,"dog, big"\n', CSV)
def _check_csv(value: Any) -> None:
    assert value == [["0.25", "cat"], ["0.75", "dog, big"]]


@_deserializer("json", "JSONDeserializer", b'{"predictions": [{"score": 0.25}, {"score": 0.75}]}', JSON)
def _check_json(value: Any) -> None:
    assert value == {"predictions": [{"score": 0.25}, {"score": 0.75}]}


@_deserializer("jsonlines", "JSONLinesDeserializer", b'{"score": 0.25}\n{"score": 0.75}\n', JSONL)
def _check_jsonlines(value: Any) -> None:
    assert value == [{"score": 0.25}, {"score": 0.75}]


@_deserializer("npy", "NumpyDeserializer", _npy_buffer.getvalue(), NPY)
def _check_npy(value: Any) -> None:
    assert value.dtype == np.float32 and value.tobytes() == NPY_ANSWER.tobytes()
    assert value.shape == (2, 2)


@_deserializer("recordio", "RecordDeserializer", GOLDEN_RIO, RIO)
def _check_recordio(value: Any) -> None:
    # The records the SDK v2 wrote for X_RIO (the golden file), read back as messages.
    assert len(value) == 10
    got = np.array([list(r.features["values"].float32_tensor.values) for r in value], np.float32)
    assert got.tobytes() == X_RIO.astype(np.float32).tobytes()
    assert [len(r.label) for r in value] == [0] * 10


@_deserializer("recordbatch", "RecordBatchDeserializer", b'{"score":0.25}\n{"score":0.75}\n', JSONL)
def _check_recordbatch(value: Any) -> None:
    assert isinstance(value, smp.RecordBatch)
    assert list(value.label) == ["score"]
    assert value.label["score"].tolist() == [0.25, 0.75]


# ======================================================================================
# A loopback endpoint
# ======================================================================================


class Recorder:
    """What the loopback server received last, and what it answers next."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answer: tuple[bytes, str] = (b"", "application/octet-stream")


class _Handler(http.server.BaseHTTPRequestHandler):
    recorder: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.recorder.requests.append((self.path, dict(self.headers.items()), body))
        answer, content_type = self.recorder.answer
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Recorder]:
    """A loopback server, and the SDK v3's runtime client pointed at it (botocore reads
    ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` when it makes a client; sagemaker-core caches its
    clients, so the cache is cleared before and after)."""
    from sagemaker.core.utils.utils import SageMakerClient

    recorder = Recorder()
    handler = type("Handler", (_Handler,), {"recorder": recorder})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_address[1]}")
            SageMakerClient.reset()
            yield recorder
            SageMakerClient.reset()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def loopback(endpoint: Recorder) -> Recorder:
    endpoint.requests.clear()
    return endpoint


# ======================================================================================
# Endpoint.invoke, every pair
# ======================================================================================


@needs_v3
@pytest.mark.parametrize("de_name", sorted(DESERIALIZERS))
@pytest.mark.parametrize("se_name", sorted(SERIALIZERS))
def test_endpoint_invoke_every_pair(loopback: Recorder, se_name: str, de_name: str) -> None:
    se_cls, data, expected_body, content_type = SERIALIZERS[se_name]
    de_cls, answer, answer_type, check = DESERIALIZERS[de_name]
    ser = getattr(v3, se_cls)()
    de = getattr(v3, de_cls)(accept=answer_type)
    loopback.answer = (answer, answer_type)
    endpoint = Endpoint(endpoint_name="demo", serializer=ser, deserializer=de)
    out = endpoint.invoke(data(), content_type=ser.CONTENT_TYPE, accept=de.ACCEPT)
    ((path, headers, body),) = loopback.requests
    assert path == "/endpoints/demo/invocations"
    assert body == expected_body
    assert headers["Content-Type"] == content_type
    assert headers["Accept"] == answer_type
    assert out.content_type == answer_type
    check(out.body)


@needs_v3
def test_endpoint_invoke_one_accept_header_for_several_types(loopback: Recorder) -> None:
    de = v3.NumpyDeserializer(accept=(CSV, NPY))
    assert de.ACCEPT == "text/csv, application/x-npy"
    loopback.answer = (b"0.5\n1.5\n", CSV)
    endpoint = Endpoint(endpoint_name="demo", serializer=v3.CSVSerializer(), deserializer=de)
    out = endpoint.invoke([[1.0, 2.0]], content_type=CSV, accept=de.ACCEPT)
    ((_, headers, body),) = loopback.requests
    assert (headers["Accept"], body) == ("text/csv, application/x-npy", b"1.0,2.0")
    assert out.body.dtype == np.float64 and out.body.tolist() == [0.5, 1.5]


@needs_v3
def test_endpoint_rejects_the_v2_twins_and_takes_ours() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as e:
        Endpoint(endpoint_name="demo", serializer=v2.CSVSerializer(), deserializer=v2.CSVDeserializer())
    assert {err["loc"] for err in e.value.errors()} == {("serializer",), ("deserializer",)}
    ser, de = v3.CSVSerializer(), v3.CSVDeserializer()
    endpoint = Endpoint(endpoint_name="demo", serializer=ser, deserializer=de)
    assert type(endpoint.serializer) is v3.CSVSerializer
    assert type(endpoint.deserializer) is v3.CSVDeserializer
    # Endpoint.get(...) users assign them: validated too
    with pytest.raises(ValidationError):
        endpoint.serializer = v2.RecordSerializer()
    endpoint.serializer = v3.RecordSerializer()
    endpoint.deserializer = v3.RecordDeserializer()
    assert type(endpoint.serializer) is v3.RecordSerializer


@needs_v3
@pytest.mark.parametrize("name", [v[0] for v in SERIALIZERS.values()])
def test_serializers_are_the_sdk_v3_base_and_the_v2_twin(name: str) -> None:
    ser = getattr(v3, name)()
    assert isinstance(ser, BaseSerializer) and isinstance(ser, getattr(v2, name))
    assert type(ser).__mro__[1] is getattr(v2, name)


@needs_v3
@pytest.mark.parametrize("name", [v[0] for v in DESERIALIZERS.values()])
def test_deserializers_are_the_sdk_v3_base_and_the_v2_twin(name: str) -> None:
    de = getattr(v3, name)()
    assert isinstance(de, BaseDeserializer) and isinstance(de, getattr(v2, name))
    assert isinstance(de.ACCEPT, str)


@needs_v3
def test_accept_is_one_string() -> None:
    assert v3.CSVDeserializer().ACCEPT == "text/csv"
    assert v3.JSONDeserializer().ACCEPT == "application/json"
    assert v3.JSONLinesDeserializer().ACCEPT == "application/jsonlines"
    assert v3.NumpyDeserializer().ACCEPT == "application/x-npy"
    assert v3.RecordDeserializer().ACCEPT == "application/x-recordio-protobuf"
    assert v3.JSONDeserializer(accept=[JSON, JSONL]).ACCEPT == "application/json, application/jsonlines"
    every = v3.RecordBatchDeserializer().ACCEPT
    assert every == ", ".join(v2.RecordBatchDeserializer().ACCEPT)
    assert every.startswith("application/x-recordio-protobuf, ")
    # the twin keeps the SDK v2's tuple
    assert v2.CSVDeserializer().ACCEPT == ("text/csv",)


# ======================================================================================
# The bytes: the SDK v2's, whatever the input
# ======================================================================================


@needs_v3
@pytest.mark.parametrize("name", sorted(SERIALIZERS))
def test_serialize_returns_the_sdk_v2_bytes(name: str) -> None:
    cls, data, expected, content_type = SERIALIZERS[name]
    ser = getattr(v3, cls)()
    out = ser.serialize(data())
    assert type(out) is bytes
    assert out == expected
    assert content_type == ser.CONTENT_TYPE


@needs_v3
def test_record_serializer_one_row_is_the_sdk_v2_bytes() -> None:
    assert v3.RecordSerializer().serialize(X_RIO_1D.reshape(-1)) == GOLDEN_RIO_1D


@needs_v3
def test_serializers_take_a_file_like_object_and_content_type() -> None:
    assert v3.CSVSerializer().serialize(io.StringIO("1,2\n3,é")) == "1,2\n3,é".encode()
    assert v3.NumpySerializer().serialize(io.BytesIO(b"\x93NUMPY")) == b"\x93NUMPY"
    ser = v3.JSONSerializer(content_type="application/json; charset=utf-8")
    assert ser.CONTENT_TYPE == "application/json; charset=utf-8"
    assert ser.serialize({"text": "é"}) == b'{"text": "\\u00e9"}'
    assert v3.CSVSerializer().serialize([["é", "a,b"]]) == 'é,"a,b"'.encode()


@needs_v3
def test_errors_are_the_twins() -> None:
    with pytest.raises(smp.EncodeError) as e:
        v3.CSVSerializer().serialize(np.zeros((0, 3)))
    assert str(e.value) == "text/csv: Cannot serialize empty array"
    with pytest.raises(smp.EncodeError) as e:
        v3.RecordSerializer().serialize(np.zeros((2, 2, 2)))
    assert e.value.reason == "Expected a 1D or 2D array, but got a 3D array instead."
    with pytest.raises(smp.DecodeError) as d:
        v3.RecordDeserializer().deserialize(io.BytesIO(b"\x00" * 8))
    assert (d.value.offset, d.value.record_index) == (0, 0)
    with pytest.raises(v3.JSONDecodeError) as j:
        v3.JSONLinesDeserializer().deserialize(io.BytesIO(b'{"a": 1}\n{"a": }\n'))
    assert isinstance(j.value, json.JSONDecodeError) and isinstance(j.value, smp.DecodeError)
    assert (j.value.line, j.value.offset, j.value.pos) == (2, 15, 6)
    with pytest.raises(smp.UnsupportedMediaTypeError):
        v3.NumpyDeserializer(accept="text/plain").deserialize(io.BytesIO(b"1"))


float_matrices = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements={"allow_nan": False, "allow_infinity": False},
)


@needs_v3
@given(float_matrices)
def test_serializers_write_the_twins_bytes(x: np.ndarray) -> None:
    """For any float matrix: the twin's value as bytes, which is numpy's text / np.save /
    the library's SDK-compatible RecordIO writer (oracles independent of the classes)."""
    csv_text = "\n".join(",".join(str(v) for v in row) for row in x)
    assert v3.CSVSerializer().serialize(x) == v2.CSVSerializer().serialize(x).encode() == csv_text.encode()
    assert v3.JSONSerializer().serialize(x) == json.dumps(x.tolist()).encode()
    buf = io.BytesIO()
    np.save(buf, x)
    assert v3.NumpySerializer().serialize(x) == buf.getvalue() == v2.NumpySerializer().serialize(x)
    rio = smp.encode_request(x, RIO, sdk_compatible=True)
    assert v3.RecordSerializer().serialize(x) == rio == v2.RecordSerializer().serialize(x).getvalue()


# ======================================================================================
# deserialize(stream): LocalEndpoint's one-argument call
# ======================================================================================


@needs_v3
@pytest.mark.parametrize("name", sorted(DESERIALIZERS))
def test_deserialize_with_one_argument(name: str) -> None:
    cls, body, content_type, check = DESERIALIZERS[name]
    de = getattr(v3, cls)(accept=content_type)
    check(de.deserialize(io.BytesIO(body)))
    check(de.deserialize(io.BytesIO(body), content_type))


@needs_v3
def test_numpy_deserializer_without_content_type_reads_its_first_accept() -> None:
    de = v3.NumpyDeserializer(accept=(CSV, NPY))
    assert de.deserialize(io.BytesIO(b"1,2\n3,4\n")).tolist() == [[1, 2], [3, 4]]
    one = v3.NumpyDeserializer(accept="text/csv, application/json").deserialize(io.BytesIO(b"7\n"))
    assert one.shape == () and one.tolist() == 7


class _InProcessServer:
    """LocalEndpoint's in-process model server: records the call, answers a fixed body."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.calls: list[tuple[bytes, str, str]] = []

    def _invoke_serving(self, data: bytes, content_type: str, accept: str) -> bytes:
        self.calls.append((data, content_type, accept))
        return self.answer


@needs_v3
@pytest.mark.parametrize("name", sorted(DESERIALIZERS))
def test_local_endpoint(name: str) -> None:
    from sagemaker.serve.local_resources import LocalEndpoint

    cls, body, content_type, check = DESERIALIZERS[name]
    server = _InProcessServer(body)
    ser, de = v3.RecordSerializer(), getattr(v3, cls)(accept=content_type)
    local = LocalEndpoint(
        "demo",
        "demo-config",
        local_session=object(),
        in_process_mode=True,
        in_process_mode_obj=server,
        serializer=ser,
        deserializer=de,
    )
    out = local.invoke(X_RIO, content_type=ser.CONTENT_TYPE, accept=de.ACCEPT)
    assert server.calls == [(GOLDEN_RIO, RIO, content_type)]
    check(out.body)


# ======================================================================================
# PayloadTranslator and SchemaBuilder
# ======================================================================================


@needs_v3
def test_schema_builder_takes_the_translators() -> None:
    from sagemaker.serve.builder.schema_builder import SchemaBuilder
    from sagemaker.serve.marshalling.custom_payload_translator import CustomPayloadTranslator

    request = v3.PayloadTranslator(RIO, sdk_compatible=True)
    response = v3.PayloadTranslator(JSONL, response=True)
    assert isinstance(request, CustomPayloadTranslator) and isinstance(response, CustomPayloadTranslator)
    schema = SchemaBuilder(
        sample_input=X_RIO,
        sample_output=smp.RecordBatch(label={"score": np.array([0.25, 0.75])}),
        input_translator=request,
        output_translator=response,
    )
    assert schema.custom_input_translator is request
    assert schema.custom_output_translator is response
    assert schema.generate_marshalling_map()["custom_input_translator"] is True
    assert (request.CONTENT_TYPE, request.ACCEPT) == (RIO, RIO)
    assert (response.CONTENT_TYPE, response.ACCEPT) == (JSONL, JSONL)


@needs_v3
def test_schema_builder_refuses_a_payload_the_translator_cannot_write() -> None:
    from sagemaker.serve.builder.schema_builder import SchemaBuilder

    with pytest.raises(ValueError, match="Error when validating payload serialization"):
        SchemaBuilder(
            sample_input=["not", "numbers"],
            sample_output=np.array([0.5]),
            input_translator=v3.PayloadTranslator(CSV),
            output_translator=v3.PayloadTranslator(CSV, response=True),
        )


@needs_v3
def test_request_translator_round_trip_through_the_container_calls() -> None:
    t = v3.PayloadTranslator(RIO, sdk_compatible=True)
    # the client: Endpoint.invoke / ModelBuilder's predictor call serialize(payload)
    body = t.serialize(X_RIO)
    assert body == GOLDEN_RIO
    # the container: input_fn calls deserialize(stream, request content type)
    batch = t.deserialize(io.BytesIO(body), "application/x-recordio-protobuf")
    assert isinstance(batch, smp.RecordBatch)
    assert batch.features["values"].dtype == np.float32
    assert batch.features["values"].tobytes() == X_RIO.astype(np.float32).tobytes()
    # a RecordBatch in, the same bytes
    assert t.serialize(smp.from_dense(X_RIO)) == GOLDEN_RIO
    assert t.serialize_payload_to_bytes(X_RIO) == GOLDEN_RIO


@needs_v3
@pytest.mark.parametrize(
    ("content_type", "options", "expected"),
    [
        (JSONL, {}, b'{"score":0.25}\n{"score":0.75}\n'),
        # CSV has no names: the codec's keys= names the columns
        (CSV, {"keys": ["score"]}, b"0.25\n0.75\n"),
        (JSON, {}, b'{"predictions":[{"score":0.25},{"score":0.75}]}'),
    ],
)
def test_response_translator(content_type: str, options: dict[str, Any], expected: bytes) -> None:
    t = v3.PayloadTranslator(content_type, response=True, **options)
    outputs = smp.RecordBatch(label={"score": np.array([0.25, 0.75])})
    # the container: output_fn calls serialize(predictions, accept)
    body = t.serialize(outputs, content_type)
    assert body == expected
    # the client: the response's deserializer
    back = t.deserialize(io.BytesIO(body))
    assert back.label["score"].tolist() == [0.25, 0.75]


@needs_v3
def test_translator_options_and_errors() -> None:
    t = v3.PayloadTranslator(CSV, accept=JSONL, dtype="float32")
    assert (t.CONTENT_TYPE, t.ACCEPT) == (CSV, JSONL)
    assert repr(t) == "PayloadTranslator('text/csv', accept='application/jsonlines', dtype='float32')"
    assert t.deserialize(io.BytesIO(b"0.1,2\n")).features["values"].dtype == np.float32
    with pytest.raises(smp.UnsupportedMediaTypeError):
        v3.PayloadTranslator("text/plain")
    with pytest.raises(smp.NotAcceptableError):
        v3.PayloadTranslator("text/libsvm", response=True)
    with pytest.raises(TypeError):
        v3.PayloadTranslator(CSV, no_such_option=1)
    with pytest.raises(smp.DecodeError):
        v3.PayloadTranslator(RIO).deserialize(io.BytesIO(b"\x00" * 8))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        v3.Nothing  # noqa: B018


@needs_v3
def test_pickled_as_references() -> None:
    """ModelBuilder pickles the SchemaBuilder (cloudpickle) for the container: the classes go
    by reference, the instances keep their settings."""
    t = pickle.loads(pickle.dumps(v3.PayloadTranslator(CSV, response=True, keys=["score"])))
    assert type(t) is v3.PayloadTranslator and t.__class__.__module__ == "sm_payloads.sdk._translator"
    assert repr(t) == "PayloadTranslator('text/csv', accept='text/csv', response=True, keys=['score'])"
    assert t.deserialize(io.BytesIO(b"0.5\n")).label["score"].tolist() == [0.5]
    de = pickle.loads(pickle.dumps(v3.NumpyDeserializer(accept=(CSV, NPY))))
    assert type(de) is v3.NumpyDeserializer and de.ACCEPT == "text/csv, application/x-npy"


@needs_v3
@given(float_matrices)
def test_translator_round_trips_bit_for_bit(x: np.ndarray) -> None:
    for content_type in (RIO, NPY):
        t = v3.PayloadTranslator(content_type)
        got = t.deserialize(io.BytesIO(t.serialize(x))).to_numpy()
        assert got.dtype == x.dtype and got.shape == x.shape and got.tobytes() == x.tobytes()


# ======================================================================================
# docs/sdk.md's SDK v3 examples, as written
# ======================================================================================


def _doc_blocks() -> list[str]:
    from .test_docs import python_blocks

    return [b.code for b in python_blocks() if b.page == "docs/sdk.md" and "SDK v3" in (b.mark or "")]


def test_the_docs_have_the_sdk_v3_examples() -> None:
    blocks = _doc_blocks()
    assert len(blocks) == 2
    assert "endpoint.invoke(X, content_type=ser.CONTENT_TYPE, accept=de.ACCEPT)" in blocks[0]
    assert "SchemaBuilder(" in blocks[1]


@needs_v3
def test_docs_endpoint_example(loopback: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    answer = smp.encode_response(smp.RecordBatch(label={"score": np.array([0.75], np.float32)}), RIO)
    loopback.answer = (answer, RIO)
    exec(compile(_doc_blocks()[0], "docs/sdk.md", "exec"), {"__name__": "__doc_block__"})
    assert capsys.readouterr().out == "0.75\n"
    ((path, headers, body),) = loopback.requests
    X = np.array([[1.5, 16.0, 14.0, 23.0]], np.float32)
    assert path == "/endpoints/my-endpoint/invocations"
    assert (headers["Content-Type"], headers["Accept"]) == (RIO, RIO)
    assert body == smp.encode_request(X, RIO, sdk_compatible=True)


@needs_v3
def test_docs_schema_builder_example() -> None:
    namespace: dict[str, Any] = {"__name__": "__doc_block__"}
    exec(compile(_doc_blocks()[1], "docs/sdk.md", "exec"), namespace)
    schema = namespace["schema"]
    assert repr(schema.custom_input_translator) == (
        "PayloadTranslator('application/x-recordio-protobuf', accept='application/x-recordio-protobuf')"
    )
    assert repr(schema.custom_output_translator) == (
        "PayloadTranslator('application/jsonlines', accept='application/jsonlines', response=True)"
    )
