"""Media types, the registry and the top-level verbs (the parts the core issue needs)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import sm_payloads as smp
from sm_payloads.arrays import to_batch

CT = "application/x-recordio-protobuf"


@pytest.mark.parametrize(
    ("text", "essence", "params"),
    [
        ("text/csv", "text/csv", {}),
        ("Text/CSV; Label_Size=1", "text/csv", {"label_size": "1"}),
        ("text/csv;label_size = 1", "text/csv", {"label_size": "1"}),
        ('application/json; charset="utf-8"', "application/json", {"charset": "utf-8"}),
        ("application/json;verbose=True", "application/json", {"verbose": "True"}),
        ("text/csv;", "text/csv", {}),
        # docs/media-types.md, "Parameters seen in the wild": Object2Vec's documented spelling
        # has an unquoted comma.
        ("application/json; infer_max_seqlens=5,5", "application/json", {"infer_max_seqlens": "5,5"}),
        ('application/json; infer_max_seqlens="5,5"', "application/json", {"infer_max_seqlens": "5,5"}),
    ],
)
def test_media_type_parse(text: str, essence: str, params: dict[str, str]) -> None:
    m = smp.MediaType.parse(text)
    assert m.essence == essence and dict(m.params) == params


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "csv",
        "label_size=1; text/csv",
        "text/csv; label_size=1=1",
        "text/csv; a=1; a=2",
        "text/csv; a=1,",
        "text/csv; a=1, application/json",
    ],
)
def test_malformed_media_types(bad: str) -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError):
        smp.MediaType.parse(bad)


@pytest.mark.parametrize(
    "ct", [CT, "Application/X-RecordIO-Protobuf", " application/x-recordio-protobuf ; foo=bar"]
)
def test_verbs_accept_any_spelling(ct: str) -> None:
    X = np.array([[1.0, 2.0]], np.float32)
    body = smp.encode_request(X, ct)
    assert smp.decode_request(body, ct).to_numpy().tolist() == [[1.0, 2.0]]
    # a response's array is the output label["values"]
    assert smp.decode_response(smp.encode_response(X, ct), ct).label["values"].tolist() == [[1.0, 2.0]]
    assert [len(b) for b in smp.iter_decode(body * 3, ct, batch_size=2)] == [2, 1]


def test_data_forms() -> None:
    assert len(smp.decode_request(smp.encode_request([[1, 2], [3, 4]], CT), CT)) == 2
    assert len(smp.decode_request(smp.encode_request(np.zeros(3), CT), CT)) == 1
    assert smp.decode_request(smp.encode_request(sp.csr_matrix(np.eye(2)), CT), CT).to_scipy().nnz == 2
    with pytest.raises(smp.EncodeError, match="cannot encode dict"):
        smp.encode_request({"a": 1}, CT)


def test_unsupported_media_type_lists_supported() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        smp.decode_request(b"", "image/png")
    assert e.value.status_hint == 415
    assert CT in e.value.supported


def test_register_codec() -> None:
    from dataclasses import dataclass

    from sm_payloads import registry
    from sm_payloads.codec import Codec

    @dataclass(frozen=True, slots=True)
    class Echo(Codec):
        content_type = "application/x-echo"
        width: int = 1

        def encode(self, data: smp.RecordBatch, /) -> bytes:
            return b"%d*%d" % (len(data), self.width)

        def decode(self, data: bytes, /) -> smp.RecordBatch:
            return smp.RecordBatch(n=int(bytes(data)))

    smp.register_codec(Echo, aliases=("application/x-echo-alias",))
    try:
        assert smp.encode_request(np.zeros((3, 1)), "application/x-echo") == b"3*1"
        assert smp.encode_request(np.zeros((3, 1)), "application/x-echo", width=2) == b"3*2"
        assert len(smp.decode_request(b"5", "application/x-echo-alias")) == 5
        assert smp.decode_response(b"4", "application/x-echo").label == {}
        with pytest.raises(smp.UnsupportedMediaTypeError) as e:
            smp.iter_decode(b"5", "application/x-echo")
        assert e.value.reason == "no streaming decoder"
        with pytest.raises(TypeError) as t:
            smp.encode_request(np.zeros((3, 1)), "application/x-echo", height=2)
        assert str(t.value) == "application/x-echo has no option 'height' (options: width)"
        with pytest.raises(ValueError, match="already registered"):
            smp.register_codec(Echo)
    finally:
        registry.CODECS.pop("application/x-echo")
        registry.ALIASES.pop("application/x-echo-alias")


def test_register_codec_wants_a_complete_codec_class() -> None:
    from sm_payloads.codec import Codec

    class Duck:
        content_type = "application/x-duck"

    class Half(Codec):
        content_type = "application/x-half"

        def encode(self, data: smp.RecordBatch, /) -> bytes:
            return b""

    with pytest.raises(TypeError) as e:
        smp.register_codec(Duck)  # type: ignore[arg-type]
    assert str(e.value).endswith("Duck'> is not a subclass of sm_payloads.codec.Codec")
    with pytest.raises(TypeError) as e:
        smp.register_codec(Half)
    assert str(e.value) == "Half does not implement decode"


def test_codecs_are_frozen_and_configured_once() -> None:
    import dataclasses

    codec = smp.get_codec("text/csv; label_size=1; header=present", dtype="float32")
    assert (codec.label_size, codec.header, codec.dtype) == (1, True, "float32")  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        codec.header = False  # type: ignore[misc]
    other = codec.with_options(label_size=2)
    assert (other.label_size, codec.label_size) == (2, 1)  # type: ignore[attr-defined]
    # options win over the media type's parameters
    assert smp.get_codec("text/csv; label_size=1", label_size=0).label_size == 0  # type: ignore[attr-defined]
    assert {k: c.capabilities.streaming for k, c in smp.registry.CODECS.items()} == {
        "application/json": False,
        "application/jsonlines": True,
        "text/csv": True,
        "application/x-recordio-protobuf": True,
        "application/x-npy": False,
        "text/libsvm": True,
    }
    assert smp.registry.response_types() == (
        "application/json",
        "application/jsonlines",
        "text/csv",
        "application/x-recordio-protobuf",
        "application/x-npy",
    )


def test_errors_have_status_hints_and_survive_pickling() -> None:
    import pickle

    for err in (
        smp.DecodeError(CT, "bad", offset=3, record_index=1),
        smp.EncodeError(CT, "no", column="label['x']"),
        smp.UnsupportedMediaTypeError("a/b", ["c/d"]),
        smp.NotAcceptableError("a/b", ["c/d"]),
        smp.PayloadTooLargeError(10, 5),
    ):
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err)
        assert isinstance(err, smp.PayloadError) and isinstance(err, ValueError)
    assert [e.status_hint for e in (smp.DecodeError(CT, "x"), smp.EncodeError(CT, "x"))] == [400, 500]
    assert (
        str(smp.DecodeError(CT, "bad magic", offset=48, record_index=3))
        == f"{CT}: bad magic at byte 48 (record 3)"
    )


def test_malformed_content_type_message_is_said_once() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        smp.get_codec("not a media type")
    listed = ", ".join(smp.registry.supported())
    assert str(e.value) == f"'not a media type': malformed media type; supported: {listed}"


def test_response_from_per_record_dicts() -> None:
    """docs/record.md, "What the top-level verbs accept": a response may be a list of
    per-record dicts (k-means' shape here)."""
    rows = [
        {"closest_cluster": 5, "distance_to_cluster": 36.5, "name": "a", "v": [1.0, 2.0]},
        {"closest_cluster": 2, "distance_to_cluster": 1.25, "name": "b", "v": [3.0, 4.0]},
    ]
    batch = to_batch(rows, response=True)
    assert list(batch.label) == ["closest_cluster", "distance_to_cluster", "name", "v"]
    assert batch.label["closest_cluster"].dtype == np.int32
    assert batch.label["closest_cluster"].tolist() == [5, 2]
    assert batch.label["distance_to_cluster"].tolist() == [36.5, 1.25]
    assert batch.label["name"].tolist() == ["a", "b"]
    assert batch.label["v"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    ragged = to_batch([{"v": [1.0]}, {"v": [2.0, 3.0]}], response=True).label["v"]
    assert isinstance(ragged, smp.Ragged) and ragged[1].tolist() == [2.0, 3.0]
    body = smp.encode_response(rows[:1], CT)
    back = smp.decode_response(body, CT)
    assert back.label["closest_cluster"].tolist() == [5]
    with pytest.raises(smp.EncodeError) as e:
        to_batch([{"a": 1}, {"b": 2}], response=True)
    assert e.value.status_hint == 400 and e.value.column == "label['a']"
    assert str(e.value) == "label['a']: record 1 has no 'a' (every record needs every output key)"
    with pytest.raises(smp.EncodeError):
        to_batch([{"a": 1}], response=False)


def test_request_only_formats_refuse_responses() -> None:
    """libsvm is a request format: no response is written or read in it."""
    assert "text/libsvm" not in smp.registry.response_types()
    assert "text/libsvm" in smp.registry.supported() and "text/x-libsvm" in smp.registry.supported()
    with pytest.raises(smp.NotAcceptableError) as e:
        smp.encode_response(np.ones((1, 2)), "text/x-libsvm")
    assert e.value.reason == "text/libsvm is a request format only"
    with pytest.raises(smp.UnsupportedMediaTypeError) as u:
        smp.decode_response(b"1 0:1\n", "text/libsvm")
    assert u.value.reason == "text/libsvm is a request format only"


def test_raw_input_codecs_get_the_array_as_given() -> None:
    """npy writes what numpy.save writes (the SDK's NumpySerializer): a 1-D int64 array
    stays 1-D int64 instead of becoming one int32 record."""
    import io

    a = np.array([1, 2, 3], dtype=np.int64)
    ref = io.BytesIO()
    np.save(ref, a)
    assert smp.encode_request(a, "application/x-npy") == ref.getvalue()
    assert smp.encode_response(a, "application/x-npy") == ref.getvalue()


def test_algorithm_option_of_the_top_level_verbs() -> None:
    """docs/record.md, "What the top-level verbs accept": the envelope comes from the
    algorithm's schema when one is given."""
    batch = smp.RecordBatch(label={"projection": np.array([[1.0, 2.0]], np.float32)})
    body = smp.encode_response(batch, "application/json", algorithm="pca")
    assert body == b'{"projections": [{"projection": [1.0, 2.0]}]}'
    back = smp.decode_response(body, "application/json", algorithm="PCA")
    assert back.label["projection"].tolist() == [[1.0, 2.0]]
    with pytest.raises(smp.NotAcceptableError):
        smp.encode_response(batch, "text/csv", algorithm="pca")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", b"".join(b"%d,1\n" % i for i in range(25_000))),
        ("application/jsonlines", b"".join(b"[%d, 1]\n" % i for i in range(25_000))),
    ],
)
def test_iter_decode_has_a_default_batch_size(content_type: str, body: bytes) -> None:
    import io

    assert smp.DEFAULT_BATCH_SIZE == 10_000
    batches = list(smp.iter_decode(io.BytesIO(body), content_type))
    assert [len(b) for b in batches] == [10_000, 10_000, 5_000]
    assert batches[2].to_numpy()[-1].tolist() == [24_999.0, 1.0]


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "3", None])
def test_iter_decode_wants_a_positive_integer_batch_size(batch_size: object) -> None:
    with pytest.raises(ValueError) as e:
        smp.iter_decode(b"1,2\n", "text/csv", batch_size=batch_size)  # type: ignore[arg-type]
    assert str(e.value) == f"batch_size must be an integer of at least 1, not {batch_size!r}"


def test_iter_decode_takes_numpy_integers_as_batch_size() -> None:
    batches = smp.iter_decode(b"1\n2\n3\n", "text/csv", batch_size=np.int64(2))  # type: ignore[arg-type]
    assert [len(b) for b in batches] == [2, 1]


def test_payload_error_takes_what_value_error_takes() -> None:
    assert smp.PayloadError().args == ()
    assert smp.PayloadError("a", "b").args == ("a", "b")
    assert str(smp.PayloadError("bad input")) == "bad input"


def test_a_codec_checks_its_options_when_built() -> None:
    with pytest.raises(ValueError) as e:
        smp.get_codec("text/csv", label_size=-1)
    assert str(e.value) == "label_size must be a non-negative integer, got -1"
    with pytest.raises(ValueError) as e:
        smp.get_codec("text/libsvm", index_base=5)
    assert str(e.value) == "index_base must be 0 or 1, not 5"
    codec = smp.get_codec("text/csv;header=present", names=["a", "b"])
    assert codec.names == ("a", "b")  # type: ignore[attr-defined]
    assert hash(codec) == hash(smp.get_codec("text/csv;header=present", names=("a", "b")))
    assert codec.encode(smp.from_dense(np.array([[1.5, 2.0]]))) == b"a,b\n1.5,2.0"
