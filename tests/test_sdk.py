"""`sm_payloads.sdk` against the SageMaker Python SDK v2's own serializers and
deserializers (the oracle): the same text/bytes and equal return values for the same
inputs, and each documented difference (docs/sdk.md) asserted exactly."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import pickle
import struct
import subprocess
import sys
import textwrap
from typing import Any, TypeVar
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp
from sm_payloads import recordio, sdk
from sm_payloads._proto import record_pb2
from sm_payloads.formats import recordio_protobuf as rp

from .helpers import ROOT, arrays, record_batches

try:
    from sagemaker import base_deserializers as sdk_de
    from sagemaker import base_serializers as sdk_se
except ImportError:  # pragma: no cover - the SDK is a test dependency
    sdk_de = sdk_se = None

needs_sdk = pytest.mark.skipif(sdk_se is None, reason="the SageMaker SDK v2 (test oracle) is not installed")
sdk_mark = [needs_sdk, pytest.mark.sdk]

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/jsonlines"
NPY = "application/x-npy"
NPZ = "application/x-npz"
RIO = "application/x-recordio-protobuf"
MAGIC = struct.pack("<I", 0xCED7230A)

DTYPES_CSV = [np.float32, np.float64, np.int32, np.int64, np.int16, np.uint8, np.uint64, np.float16, np.bool_]


def body(b: bytes) -> io.BytesIO:
    return io.BytesIO(b)


OursE = TypeVar("OursE", bound=BaseException)
TheirsE = TypeVar("TheirsE", bound=BaseException)


def both_raise(
    ours_error: type[OursE], theirs_error: type[TheirsE], ours: Any, theirs: Any, *args: Any
) -> tuple[OursE, TheirsE]:
    """Run both; ours must raise exactly `ours_error` and the SDK's exactly `theirs_error`
    (not a subclass). Returns (our exception, the SDK's)."""
    with pytest.raises(ours_error) as a:
        ours(*args)
    assert type(a.value) is ours_error, repr(a.value)
    with pytest.raises(theirs_error) as b:
        theirs(*args)
    assert type(b.value) is theirs_error, repr(b.value)
    return a.value, b.value


def same_outcome(ours: Any, theirs: Any, data: Any) -> None:
    """Equal results, or, where the SDK raises ValueError, our EncodeError with its message."""
    try:
        want = theirs(data)
    except ValueError as e:
        assert type(e) is ValueError
        with pytest.raises(smp.EncodeError) as ours_e:
            ours(data)
        assert type(ours_e.value) is smp.EncodeError
        assert ours_e.value.reason == str(e)
        return
    assert ours(data) == want


def any_dense(dtypes: list[Any], min_dims: int = 1, max_dims: int = 3) -> st.SearchStrategy[np.ndarray]:
    def build(t: tuple[Any, tuple[int, ...]]) -> st.SearchStrategy[np.ndarray]:
        dt, shape = np.dtype(t[0]), t[1]
        if dt.kind == "b":
            return hnp.arrays(dt, shape)
        if dt in (np.dtype(np.float32), np.dtype(np.float64)):
            return arrays(dt, shape)
        if dt.kind == "f":
            return hnp.arrays(dt, shape, elements=st.floats(width=16, allow_nan=True))
        return hnp.arrays(dt, shape)

    return st.tuples(
        st.sampled_from(dtypes),
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=5),
    ).flatmap(build)


# ======================================================================================
# Import without the SDK; the Predictor's interface
# ======================================================================================


def test_imports_without_the_sdk() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["sagemaker"] = None  # any "import sagemaker..." now raises ImportError
        import numpy as np
        import sm_payloads.sdk as s
        assert not [m for m in sys.modules if m.startswith("sagemaker") and sys.modules[m] is not None]
        print(s.CSVSerializer().serialize(np.array([[1.5, 2.0]], np.float32)))
        print(s.RecordBatchDeserializer().ACCEPT[0])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout == "1.5,2.0\napplication/x-recordio-protobuf\n"


@pytest.mark.parametrize(
    ("cls", "content_type"),
    [
        (sdk.CSVSerializer, CSV),
        (sdk.JSONSerializer, JSON),
        (sdk.JSONLinesSerializer, JSONL),
        (sdk.NumpySerializer, NPY),
        (sdk.RecordSerializer, RIO),
    ],
)
def test_serializer_content_type(cls: Any, content_type: str) -> None:
    s = cls()
    assert s.CONTENT_TYPE == s.content_type == content_type
    s.content_type = "text/csv; label_size=1"
    assert s.CONTENT_TYPE == "text/csv; label_size=1"
    assert cls(content_type="x/y").CONTENT_TYPE == "x/y"
    with pytest.raises(ValueError, match="content_type must be a string"):
        cls(content_type=5)


@pytest.mark.parametrize(
    ("cls", "accept"),
    [
        (sdk.CSVDeserializer, CSV),
        (sdk.JSONDeserializer, JSON),
        (sdk.JSONLinesDeserializer, JSONL),
        (sdk.NumpyDeserializer, NPY),
        (sdk.RecordDeserializer, RIO),
    ],
)
def test_deserializer_accept(cls: Any, accept: str) -> None:
    default = cls().ACCEPT
    assert default == (accept,)
    assert cls(accept=(CSV, JSON)).ACCEPT == (CSV, JSON)
    assert cls(accept="a/b").ACCEPT == ("a/b",)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("CSVSerializer", {}),
        ("JSONSerializer", {}),
        ("JSONLinesSerializer", {}),
        ("NumpySerializer", {"dtype": "float32"}),
        ("RecordSerializer", {}),
        ("CSVDeserializer", {"encoding": "latin-1"}),
        ("JSONDeserializer", {}),
        ("JSONLinesDeserializer", {}),
        ("NumpyDeserializer", {"dtype": "float32", "allow_pickle": False}),
        ("RecordDeserializer", {}),
    ],
)
@needs_sdk
def test_same_constructor_attributes_as_the_sdk(name: str, kwargs: dict[str, Any]) -> None:
    theirs = getattr(sdk_se if name.endswith("Serializer") else sdk_de, name)(**kwargs)
    ours = getattr(sdk, name)(**kwargs)
    for attr in ("content_type", "CONTENT_TYPE", "accept", "ACCEPT", "encoding", "dtype", "allow_pickle"):
        assert getattr(ours, attr, "-") == getattr(theirs, attr, "-"), attr


def test_record_batch_deserializer_accept_prefers_recordio() -> None:
    accept = sdk.RecordBatchDeserializer().ACCEPT
    assert accept[:1] == (RIO,)
    assert set(accept) == set(smp.registry.response_types())
    assert sdk.RecordBatchDeserializer(accept=CSV).ACCEPT == (CSV,)


# ======================================================================================
# CSVSerializer
# ======================================================================================


@needs_sdk
@given(any_dense(DTYPES_CSV))
def test_csv_serializer_arrays_match_sdk(X: np.ndarray) -> None:
    ours = sdk.CSVSerializer().serialize(X)
    assert isinstance(ours, str)
    assert ours == sdk_se.CSVSerializer().serialize(X)


@needs_sdk
@given(
    st.lists(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5),
        min_size=1,
        max_size=5,
    )
)
def test_csv_serializer_float_lists_match_sdk(rows: list[list[float]]) -> None:
    k = len(rows[0])
    rows = [(r * k)[:k] for r in rows]  # rectangular: the fast path
    assert sdk.CSVSerializer().serialize(rows) == sdk_se.CSVSerializer().serialize(rows)
    ragged = [*rows, [1.5]]  # not rectangular: csv.writer rows
    assert sdk.CSVSerializer().serialize(ragged) == sdk_se.CSVSerializer().serialize(ragged)


@needs_sdk
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.integers(),
                st.floats(),
                st.booleans(),
                st.none(),
                st.text(st.characters(codec="utf-8"), max_size=5),
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_csv_serializer_mixed_lists_match_sdk(rows: list[list[Any]]) -> None:
    same_outcome(sdk.CSVSerializer().serialize, sdk_se.CSVSerializer().serialize, rows)
    # One row; a row starting with a str is a list of rows (str rows as is), as in the SDK.
    same_outcome(sdk.CSVSerializer().serialize, sdk_se.CSVSerializer().serialize, rows[0])


@needs_sdk
@pytest.mark.parametrize(
    "data",
    [
        "1,2,3",
        ["1,2", "3,4"],  # a list of str: one row each, as is
        np.array(["a", "b,c"]),
        [np.array([1.5, 2.0]), np.array([3.0, 4.0])],
        [[1, None, "a,b", 'q"', "", "x\ny"]],
        [""],
        ("a", "b,c"),  # a tuple of str is one row of fields
        np.array([[1, 2]], np.uint64) * 2**40,
        np.array([[1.5, None]], dtype=object),
        np.array([["a", "b"]]),
    ],
)
def test_csv_serializer_other_inputs_match_sdk(data: Any) -> None:
    assert sdk.CSVSerializer().serialize(data) == sdk_se.CSVSerializer().serialize(data)


@needs_sdk
def test_csv_serializer_file_and_dataframe_match_sdk() -> None:
    pd = pytest.importorskip("pandas")
    assert sdk.CSVSerializer().serialize(io.StringIO("1,2\n")) == "1,2\n"
    assert sdk.CSVSerializer().serialize(io.BytesIO(b"1,2\n")) == b"1,2\n"
    df = pd.DataFrame({"a": [1.5, 2.0], "b": [3, 4]})
    assert sdk.CSVSerializer().serialize(df) == sdk_se.CSVSerializer().serialize(df) == "1.5,3\n2.0,4\n"


@needs_sdk
@pytest.mark.parametrize("data", [[], np.zeros((0, 3)), np.zeros((2, 0)), [[]], [[1.0], []]])
def test_csv_serializer_empty_is_an_error_in_both(data: Any) -> None:
    ours, theirs = both_raise(
        smp.EncodeError, ValueError, sdk.CSVSerializer().serialize, sdk_se.CSVSerializer().serialize, data
    )
    assert str(theirs) == "Cannot serialize empty array"
    assert ours.reason == "Cannot serialize empty array"
    assert str(ours) == "text/csv: Cannot serialize empty array"


@needs_sdk
def test_csv_serializer_differences() -> None:
    ours, theirs = sdk.CSVSerializer(), sdk_se.CSVSerializer()
    # A tuple of rows: rows (the SDK writes one row of Python reprs).
    assert ours.serialize(((1, 2), (3, 4))) == "1,2\n3,4"
    assert theirs.serialize(((1, 2), (3, 4))) == '"(1, 2)","(3, 4)"'
    # Scalars and mappings: EncodeError, a ValueError (the SDK: TypeError / KeyError).
    for data, sdk_error, reason in [
        (5, TypeError, "Unable to handle input format: <class 'int'>"),
        (np.float64(5), TypeError, "Unable to handle input format: <class 'numpy.float64'>"),
        (np.array(5.0), TypeError, "Unable to handle input format: a 0-d array array(5.)"),
        ({"a": 1}, KeyError, "Unable to handle input format: a mapping is not a CSV row"),
    ]:
        a, _ = both_raise(smp.EncodeError, sdk_error, ours.serialize, theirs.serialize, data)
        assert (a.reason, str(a)) == (reason, f"text/csv: {reason}")


# ======================================================================================
# JSONSerializer
# ======================================================================================

JSON_DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint64, np.bool_]


@needs_sdk
@given(any_dense(JSON_DTYPES))
def test_json_serializer_arrays_match_sdk(X: np.ndarray) -> None:
    ours = sdk.JSONSerializer().serialize(X)
    assert isinstance(ours, str)
    assert ours == sdk_se.JSONSerializer().serialize(X)
    d = {"instances": X, "n": 1}
    assert sdk.JSONSerializer().serialize(d) == sdk_se.JSONSerializer().serialize(d)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@needs_sdk
@given(json_values)
def test_json_serializer_python_values_match_sdk(v: Any) -> None:
    assert sdk.JSONSerializer().serialize(v) == sdk_se.JSONSerializer().serialize(v)


@needs_sdk
def test_json_serializer_cases_match_sdk() -> None:
    for data in [
        {1: np.array([1.5]), None: 2, 2.5: "x", False: []},  # non-str keys: json's key rules
        {"a": np.array([[np.nan, np.inf]], np.float32)},
        np.array(2.5),
        np.zeros((2, 0)),
        "abc",
        [float("nan")],
    ]:
        assert sdk.JSONSerializer().serialize(data) == sdk_se.JSONSerializer().serialize(data)
    assert sdk.JSONSerializer().serialize(io.StringIO('{"a": 1}')) == '{"a": 1}'


@needs_sdk
def test_json_serializer_differences() -> None:
    # numpy scalars and nested arrays are numbers/lists (the SDK raises TypeError).
    assert sdk.JSONSerializer().serialize(np.float32(1.5)) == "1.5"
    assert sdk.JSONSerializer().serialize([np.array([1.0, 2.0])]) == "[[1.0, 2.0]]"
    for data in (np.float32(1.5), [np.array([1.0])]):
        with pytest.raises(TypeError):
            sdk_se.JSONSerializer().serialize(data)
    for value, reason in [
        (b"abc", "Object of type bytes is not JSON serializable"),
        ({"a": {1}}, "Object of type set is not JSON serializable"),
    ]:
        with pytest.raises(smp.EncodeError) as e:
            sdk.JSONSerializer().serialize(value)
        assert type(e.value) is smp.EncodeError
        assert (e.value.reason, str(e.value)) == (reason, f"application/json: {reason}")
    with pytest.raises(TypeError):
        sdk_se.JSONSerializer().serialize({"a": {1}})


# ======================================================================================
# JSONLinesSerializer
# ======================================================================================


@needs_sdk
@given(st.lists(json_values, max_size=5))
def test_jsonlines_serializer_matches_sdk(items: list[Any]) -> None:
    assert sdk.JSONLinesSerializer().serialize(items) == sdk_se.JSONLinesSerializer().serialize(items)
    assert sdk.JSONLinesSerializer().serialize(tuple(items)) == sdk_se.JSONLinesSerializer().serialize(
        tuple(items)
    )


@needs_sdk
def test_jsonlines_serializer_cases_match_sdk() -> None:
    for data in ['{"a": 1}\n{"a": 2}', [{"features": [1.5, 2]}, [1, 2], 3], (x for x in [1, 2])]:
        ours = sdk.JSONLinesSerializer().serialize(data)
        if not isinstance(data, (str, list)):
            data = (x for x in [1, 2])
        assert ours == sdk_se.JSONLinesSerializer().serialize(data)
    assert sdk.JSONLinesSerializer().serialize(io.BytesIO(b"1\n2")) == b"1\n2"
    ours_e, theirs_e = both_raise(
        smp.EncodeError,
        ValueError,
        sdk.JSONLinesSerializer().serialize,
        sdk_se.JSONLinesSerializer().serialize,
        5,
    )
    assert str(theirs_e) == "Object of type <class 'int'> is not JSON Lines serializable."
    assert ours_e.reason == "Object of type <class 'int'> is not JSON Lines serializable."
    assert (
        str(ours_e) == "application/jsonlines: Object of type <class 'int'> is not JSON Lines serializable."
    )


@needs_sdk
def test_jsonlines_serializer_differences() -> None:
    ours, theirs = sdk.JSONLinesSerializer(), sdk_se.JSONLinesSerializer()
    # A dict is one line (the SDK writes its keys, one per line).
    assert ours.serialize({"features": [1, 2]}) == '{"features": [1, 2]}'
    assert theirs.serialize({"features": [1, 2]}) == '"features"'
    # A 2-D array: one line per row (the SDK raises TypeError).
    X = np.array([[1.5, 2.0], [3.0, 4.0]], np.float32)
    assert ours.serialize(X) == "[1.5, 2.0]\n[3.0, 4.0]"
    with pytest.raises(TypeError):
        theirs.serialize(X)
    assert ours.serialize([{"a": np.float32(0.5)}]) == '{"a": 0.5}'
    # bytes are refused (the SDK writes one number per byte).
    assert theirs.serialize(b"ab") == "97\n98"
    with pytest.raises(smp.EncodeError) as e:
        ours.serialize(b"ab")
    assert type(e.value) is smp.EncodeError
    assert e.value.reason == "bytes are not JSON Lines serializable; pass a str or the values"


# ======================================================================================
# NumpySerializer
# ======================================================================================

NPY_DTYPES = ["<f4", ">f8", "<i8", "|u1", "|b1", "<c16", "<U3", "|S2", "<M8[s]", "<f2"]


@needs_sdk
@given(
    st.sampled_from(NPY_DTYPES).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    ),
    st.booleans(),
)
def test_numpy_serializer_matches_np_save(X: np.ndarray, fortran: bool) -> None:
    if fortran:
        X = np.asfortranarray(X)
    ours = sdk.NumpySerializer().serialize(X)
    assert isinstance(ours, bytes)
    assert ours == sdk_se.NumpySerializer().serialize(X)


@needs_sdk
@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([[1, 2], [3, 4]], None),
        ([[1, 2], [3, 4]], "float32"),
        ([1.5], "float16"),
        (np.array([1.5]), "float32"),  # arrays keep their dtype, as in the SDK
        (np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]), None),  # structured: np.save's writer
        (5, None),
    ],
)
def test_numpy_serializer_cases_match_sdk(data: Any, dtype: Any) -> None:
    assert sdk.NumpySerializer(dtype=dtype).serialize(data) == sdk_se.NumpySerializer(dtype=dtype).serialize(
        data
    )


@needs_sdk
def test_numpy_serializer_errors_and_differences() -> None:
    ours, theirs = sdk.NumpySerializer(), sdk_se.NumpySerializer()
    for data in ([], np.zeros((0, 2))):
        a, b = both_raise(smp.EncodeError, ValueError, ours.serialize, theirs.serialize, data)
        assert a.reason == str(b) == "Cannot serialize empty array."
        assert str(a) == "application/x-npy: Cannot serialize empty array."
    # A ragged list: numpy's own message (numpy >= 2), ours after what we were doing.
    a, b = both_raise(smp.EncodeError, ValueError, ours.serialize, theirs.serialize, [[1, 2], [3]])
    inhomogeneous = (
        "setting an array element with a sequence. The requested array has an inhomogeneous shape "
        "after 1 dimensions. The detected shape was (2,) + inhomogeneous part."
    )
    assert str(b) == inhomogeneous
    assert a.reason == f"cannot make an array of the data: {inhomogeneous}"
    assert str(a) == f"application/x-npy: cannot make an array of the data: {inhomogeneous}"
    # Object arrays: never pickled (the SDK writes a pickle the server must load).
    obj = np.array([{"a": 1}], dtype=object)
    assert b"numpy._core.multiarray" in theirs.serialize(obj)
    with pytest.raises(smp.EncodeError) as e:
        ours.serialize(obj)
    assert type(e.value) is smp.EncodeError
    assert e.value.reason == (
        "an array of dtype object needs pickle, which is never written "
        "(the server would have to unpickle untrusted data)"
    )
    # dtype applies to tuples and scalars too (the SDK: lists only).
    assert np.load(io.BytesIO(sdk.NumpySerializer(dtype="float32").serialize((1, 2)))).dtype == np.float32
    assert np.load(io.BytesIO(sdk_se.NumpySerializer(dtype="float32").serialize((1, 2)))).dtype == np.int64


# ======================================================================================
# RecordSerializer
# ======================================================================================


@needs_sdk
@given(
    st.sampled_from([np.float32, np.float64, np.int64]).flatmap(
        lambda dt: (
            arrays(np.dtype(dt), (2,)) if dt != np.int64 else arrays(np.dtype(np.int32), (2,))
        ).flatmap(
            lambda _: st.tuples(st.integers(1, 5), st.integers(0, 5), st.booleans()).flatmap(
                lambda t: (
                    arrays(np.dtype(dt), (t[1],) if t[2] else (t[0], t[1]))
                    if dt != np.int64
                    else arrays(np.dtype(np.int32), (t[1],) if t[2] else (t[0], t[1])).map(
                        lambda a: a.astype(np.int64)
                    )
                )
            )
        )
    )
)
def test_record_serializer_matches_sdk(X: np.ndarray) -> None:
    ours = sdk.RecordSerializer().serialize(X)
    theirs = sdk_se.RecordSerializer().serialize(X)
    assert isinstance(ours, io.BytesIO) and ours.tell() == 0
    assert ours.getvalue() == theirs.getvalue()


@needs_sdk
def test_record_serializer_writes_the_sdk_bytes_even_with_an_aligned_magic() -> None:
    mv = np.frombuffer(MAGIC, "<f4")[0]
    for k in range(1, 6):
        X = np.array([[1.0] * k + [mv]], np.float32)
        theirs = sdk_se.RecordSerializer().serialize(X).getvalue()
        if theirs.find(MAGIC, 8) % 4 == 0:
            break
    else:  # pragma: no cover
        raise AssertionError("no aligned magic")
    assert sdk.RecordSerializer().serialize(X).getvalue() == theirs
    # The library's default writer moves the magic off alignment instead.
    assert rp.encode(smp.from_dense(X)) != theirs


@needs_sdk
def test_record_serializer_differences() -> None:
    ours, theirs = sdk.RecordSerializer(), sdk_se.RecordSerializer()
    a, b = both_raise(smp.EncodeError, ValueError, ours.serialize, theirs.serialize, np.zeros((1, 2, 2)))
    assert a.reason == str(b) == "Expected a 1D or 2D array, but got a 3D array instead."
    assert str(a) == "application/x-recordio-protobuf: Expected a 1D or 2D array, but got a 3D array instead."
    # Lists and int32 arrays are accepted (the SDK: AttributeError / ValueError).
    X = np.array([[1.5, 2.0]])
    assert ours.serialize(X.tolist()).getvalue() == theirs.serialize(X).getvalue()
    with pytest.raises(AttributeError):
        theirs.serialize(X.tolist())
    I32 = np.array([[1, 2]], np.int32)
    assert ours.serialize(I32).getvalue() == theirs.serialize(I32.astype(np.int64)).getvalue()
    with pytest.raises(ValueError, match="Unsupported dtype int32"):
        theirs.serialize(I32)
    # Out of int32 range: both refuse (ours names the value).
    a, b = both_raise(smp.EncodeError, ValueError, ours.serialize, theirs.serialize, np.array([[2**40]]))
    assert str(b) == "Value out of range: 1099511627776"  # protobuf's text (upb and python alike)
    assert (a.content_type, a.column, a.status_hint) == (
        "application/x-recordio-protobuf",
        "features['values']",
        400,
    )
    assert str(a) == (
        "application/x-recordio-protobuf: features['values']: value 1099511627776 of dtype int64 "
        "does not fit int32 (record.proto has no 64-bit integer tensor)"
    )


# ======================================================================================
# CSVDeserializer
# ======================================================================================

plain_field = st.text(
    st.characters(codec="utf-8", exclude_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=6
)


@needs_sdk
@given(
    st.lists(st.lists(plain_field, min_size=1, max_size=4), max_size=5),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_csv_deserializer_matches_sdk(rows: list[list[str]], eol: str, final: bool) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=eol).writerows(rows)
    text = buf.getvalue() if final else buf.getvalue().removesuffix(eol)
    raw = text.encode("utf-8")
    ours = sdk.CSVDeserializer().deserialize(body(raw), CSV)
    assert ours == sdk_de.CSVDeserializer().deserialize(body(raw), CSV)
    assert ours == rows


@needs_sdk
def test_csv_deserializer_encoding_matches_sdk() -> None:
    raw = "é,ü\n".encode("latin-1")
    assert sdk.CSVDeserializer(encoding="latin-1").deserialize(body(raw), CSV) == [["é", "ü"]]
    assert sdk_de.CSVDeserializer(encoding="latin-1").deserialize(body(raw), CSV) == [["é", "ü"]]
    assert (
        sdk.CSVDeserializer().deserialize(body(b""), CSV)
        == sdk_de.CSVDeserializer().deserialize(body(b""), CSV)
        == []
    )


@needs_sdk
@pytest.mark.parametrize(
    ("raw", "ours", "theirs"),
    [
        # A quoted field keeps its line break (the SDK drops it).
        (b'a,"x\ny",b\n1,2,3\n', [["a", "x\ny", "b"], ["1", "2", "3"]], [["a", "xy", "b"], ["1", "2", "3"]]),
        (b'"x\r\ny"\r\n', [["x\r\ny"]], [["xy"]]),
        # Blank lines are skipped (the SDK returns [] rows).
        (b"1,2\n\n3,4\n\n", [["1", "2"], ["3", "4"]], [["1", "2"], [], ["3", "4"], []]),
        # Only \n, \r\n and \r end rows (the SDK's splitlines also splits on these).
        ("a\x0cb,c\u2028d\n".encode(), [["a\x0cb", "c\u2028d"]], [["a"], ["b", "c"], ["d"]]),
        # A byte order mark is not part of the first value.
        (b"\xef\xbb\xbf1,2\r\n3,4", [["1", "2"], ["3", "4"]], [["\ufeff1", "2"], ["3", "4"]]),
    ],
)
def test_csv_deserializer_differences(raw: bytes, ours: Any, theirs: Any) -> None:
    assert sdk.CSVDeserializer().deserialize(body(raw), CSV) == ours
    assert sdk_de.CSVDeserializer().deserialize(body(raw), CSV) == theirs


def test_csv_deserializer_errors_and_header() -> None:
    with pytest.raises(smp.DecodeError) as e:
        sdk.CSVDeserializer().deserialize(body(b"1,2\n\xff"), CSV)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset, e.value.line, e.value.record_index) == (
        "invalid utf-8 text: invalid start byte",
        4,
        2,
        None,
    )
    # A header row is the first row, as in the SDK.
    assert sdk.CSVDeserializer().deserialize(body(b"a,b\n1,2\n"), "text/csv; header=present") == [
        ["a", "b"],
        ["1", "2"],
    ]


def test_deserializers_close_the_stream() -> None:
    for d, raw in [
        (sdk.CSVDeserializer(), b"1"),
        (sdk.JSONDeserializer(), b"1"),
        (sdk.JSONLinesDeserializer(), b"1"),
        (sdk.NumpyDeserializer(), b"1"),
        (sdk.RecordDeserializer(), b""),
        (sdk.RecordBatchDeserializer(), b"1"),
    ]:
        s = body(raw)
        d.deserialize(s, CSV if not isinstance(d, sdk.RecordDeserializer) else RIO)
        assert s.closed


# ======================================================================================
# JSONDeserializer / JSONLinesDeserializer
# ======================================================================================


def same_json(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and types compared (1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    return bool(a == b)


@needs_sdk
@given(json_values, st.sampled_from([None, 2]))
def test_json_deserializer_matches_sdk(v: Any, indent: int | None) -> None:
    raw = json.dumps(v, indent=indent).encode()
    ours = sdk.JSONDeserializer().deserialize(body(raw), JSON)
    assert same_json(ours, sdk_de.JSONDeserializer().deserialize(body(raw), JSON))


@needs_sdk
@pytest.mark.parametrize(
    "raw",
    [
        b"[NaN, Infinity, -Infinity, 1e400]",
        b"123456789012345678901234567890",
        b'"\\ud800"',
        b'{"a": 1, "a": 2}',
        b"-0.0",
    ],
)
def test_json_deserializer_python_json_cases_match_sdk(raw: bytes) -> None:
    assert same_json(
        sdk.JSONDeserializer().deserialize(body(raw), JSON),
        sdk_de.JSONDeserializer().deserialize(body(raw), JSON),
    )


@needs_sdk
def test_json_deserializer_differences() -> None:
    raw = b'\xef\xbb\xbf{"a": [1]}'
    assert sdk.JSONDeserializer().deserialize(body(raw), JSON) == {"a": [1]}
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        sdk_de.JSONDeserializer().deserialize(body(raw), JSON)
    with pytest.raises(smp.DecodeError) as e:
        sdk.JSONDeserializer().deserialize(body(b'{"a": [1,]}'), JSON)
    assert type(e.value) is sdk.JSONDecodeError
    # Python's json names the trailing comma from 3.13 on (at the comma, not after it).
    if sys.version_info >= (3, 13):
        want = ("invalid JSON: Illegal trailing comma before end of array", 8, None)
    else:
        want = ("invalid JSON: Expecting value", 9, None)
    assert (e.value.reason, e.value.offset, e.value.line) == want
    deep = b"[" * 100_000
    with pytest.raises(smp.DecodeError) as e:
        sdk.JSONDeserializer().deserialize(body(deep), JSON)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.line) == ("JSON nested too deeply", None)
    # Not checked: e.value.offset is 0, the start of the body, not where the nesting
    # went too deep (smp.decode_request: byte 1025).
    with pytest.raises(RecursionError):
        sdk_de.JSONDeserializer().deserialize(body(deep), JSON)
    with pytest.raises(smp.DecodeError) as e:
        sdk.JSONDeserializer().deserialize(body(b"[1, \xff]"), JSON)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset, e.value.line) == ("invalid UTF-8: invalid start byte", 4, None)
    assert str(e.value) == "application/json: invalid UTF-8: invalid start byte at byte 4"


@needs_sdk
@pytest.mark.parametrize(
    ("de", "raw", "offset", "line"),
    [
        ("JSONDeserializer", b'{"a": [1 2]}', 9, None),
        ("JSONDeserializer", b'{"a": 1,\n "b": tru}', 15, None),
        ("JSONDeserializer", '{"é": [1, 2}'.encode(), 12, None),
        ("JSONDeserializer", b"", 0, None),
        ("JSONLinesDeserializer", b'{"a": 1}\n{"a": }\n', 15, 2),
    ],
)
def test_invalid_json_is_both_our_decode_error_and_the_sdks_json_error(
    de: str, raw: bytes, offset: int, line: int | None
) -> None:
    """Code written for the SDK catches json.JSONDecodeError and reads msg/pos/lineno/colno;
    the drop-ins raise an error that is that and our DecodeError at once."""
    with pytest.raises(json.JSONDecodeError) as theirs:
        getattr(sdk_de, de)().deserialize(body(raw), JSON)
    with pytest.raises(sdk.JSONDecodeError) as ours:
        getattr(sdk, de)().deserialize(body(raw), JSON)
    e = ours.value
    assert isinstance(e, json.JSONDecodeError) and isinstance(e, smp.DecodeError)
    assert (e.msg, e.doc, e.pos, e.lineno, e.colno) == (
        theirs.value.msg,
        theirs.value.doc,
        theirs.value.pos,
        theirs.value.lineno,
        theirs.value.colno,
    )
    assert (e.offset, e.line, e.status_hint) == (offset, line, 400)
    assert e.reason == f"invalid JSON: {theirs.value.msg}"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is sdk.JSONDecodeError
    assert (str(again), again.pos, again.lineno, again.offset) == (str(e), e.pos, e.lineno, e.offset)


@needs_sdk
@given(st.lists(json_values, min_size=1, max_size=5), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_jsonlines_deserializer_matches_sdk(items: list[Any], eol: str, final: bool) -> None:
    raw = (eol.join(json.dumps(v) for v in items) + (eol if final else "")).encode()
    ours = sdk.JSONLinesDeserializer().deserialize(body(raw), JSONL)
    assert same_json(ours, sdk_de.JSONLinesDeserializer().deserialize(body(raw), JSONL))
    assert same_json(ours, items)


@needs_sdk
def test_jsonlines_deserializer_differences() -> None:
    ours, theirs = sdk.JSONLinesDeserializer(), sdk_de.JSONLinesDeserializer()
    for raw, want in [
        (b'{"a":1}\n\n{"a":2}\n', [{"a": 1}, {"a": 2}]),
        (b"", []),
        (b"1\n  \n2", [1, 2]),
        (b"\n\n", []),
    ]:
        assert ours.deserialize(body(raw), JSONL) == want
        with pytest.raises(json.JSONDecodeError):
            theirs.deserialize(body(raw), JSONL)
    with pytest.raises(smp.DecodeError) as e:
        ours.deserialize(body(b'{"a": 1}\n{"a": }\n'), JSONL)
    assert type(e.value) is sdk.JSONDecodeError
    assert (e.value.reason, e.value.line, e.value.offset) == ("invalid JSON: Expecting value", 2, 15)
    assert str(e.value) == "application/jsonlines: invalid JSON: Expecting value at line 2 (byte 15)"


# ======================================================================================
# NumpyDeserializer
# ======================================================================================


def same_array(a: Any, b: Any) -> bool:
    return (
        isinstance(a, np.ndarray)
        and type(a) is type(b)
        and a.dtype == b.dtype
        and a.shape == b.shape
        and a.flags.f_contiguous == b.flags.f_contiguous
        and a.flags.c_contiguous == b.flags.c_contiguous
        and a.tobytes() == b.tobytes()
    )


@needs_sdk
@given(
    st.sampled_from(["<f4", ">f8", "<i8", "|u1", "|b1", "<c8", "<U3", "|S2", "<m8[ms]"]).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    ),
    st.booleans(),
)
def test_numpy_deserializer_npy_matches_sdk(X: np.ndarray, fortran: bool) -> None:
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(X) if fortran else X)
    raw = buf.getvalue()
    ours = sdk.NumpyDeserializer().deserialize(body(raw), NPY)
    assert same_array(ours, sdk_de.NumpyDeserializer().deserialize(body(raw), NPY))
    assert ours.flags.writeable


@needs_sdk
def test_numpy_deserializer_never_unpickles_by_default() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object))
    raw = buf.getvalue()
    with pytest.raises(smp.DecodeError) as e:
        sdk.NumpyDeserializer().deserialize(body(raw), NPY)
    assert type(e.value) is smp.DecodeError
    # Byte 20: the header's descr value '|O'.
    assert (e.value.reason, e.value.offset) == (
        "object arrays are not supported (they need pickle, which is never used)",
        20,
    )
    with pytest.raises(ValueError, match="allow_pickle=True"):
        sdk_de.NumpyDeserializer().deserialize(body(raw), NPY)
    # Opting in does what the SDK does.
    ours = sdk.NumpyDeserializer(allow_pickle=True).deserialize(body(raw), NPY)
    assert (
        ours.tolist()
        == sdk_de.NumpyDeserializer(allow_pickle=True).deserialize(body(raw), NPY).tolist()
        == [{"a": 1}]
    )
    # A malformed body: our reason, not the SDK's "set allow_pickle=True" advice.
    with pytest.raises(smp.DecodeError) as e:
        sdk.NumpyDeserializer().deserialize(body(b"garbage"), NPY)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset) == ("bad magic b'garbag', expected b'\\x93NUMPY'", 0)


csv_shapes = st.tuples(st.integers(1, 5), st.integers(1, 5))


@needs_sdk
@given(
    csv_shapes.flatmap(
        lambda s: hnp.arrays(
            np.float64, s, elements=st.floats(allow_nan=False, allow_infinity=True, width=64)
        )
    )
)
def test_numpy_deserializer_csv_floats_match_sdk(X: np.ndarray) -> None:
    X[0] = 0.5  # every column holds a non-integer: genfromtxt's float columns
    raw = sdk.CSVSerializer().serialize(X).encode()
    ours = sdk.NumpyDeserializer().deserialize(body(raw), CSV)
    theirs = sdk_de.NumpyDeserializer().deserialize(body(raw), CSV)
    assert same_array(ours, theirs)
    with np.errstate(over="ignore"):  # beyond float32: inf in both
        f32 = sdk.NumpyDeserializer(dtype="float32").deserialize(body(raw), CSV)
        assert same_array(f32, sdk_de.NumpyDeserializer(dtype="float32").deserialize(body(raw), CSV))


@needs_sdk
@given(csv_shapes.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(-(2**52), 2**52))))
def test_numpy_deserializer_csv_integers_match_sdk(X: np.ndarray) -> None:
    raw = (sdk.CSVSerializer().serialize(X) + "\n").encode()
    ours = sdk.NumpyDeserializer().deserialize(body(raw), CSV)
    assert ours.dtype == np.int64
    assert same_array(ours, sdk_de.NumpyDeserializer().deserialize(body(raw), CSV))


@needs_sdk
@pytest.mark.parametrize(
    "raw",
    [
        b"0.5\n0.7\n",  # one column: (N,)
        b"0.5,1.5\n",  # one row: (k,)
        b"0.5\n",  # one value: 0-d
        b"a,1\nb,2\n",  # text: genfromtxt itself
        b"1,2 # note\n3,4\n",  # a comment: genfromtxt itself
        b"9999999999999999999,1\n",  # beyond 2**53: genfromtxt itself
        b" 1 , 2 \r\n3,4",
    ],
)
def test_numpy_deserializer_csv_cases_match_sdk(raw: bytes) -> None:
    ours = sdk.NumpyDeserializer().deserialize(body(raw), CSV)
    theirs = sdk_de.NumpyDeserializer().deserialize(body(raw), CSV)
    assert same_array(ours, theirs), (ours, theirs)


@needs_sdk
def test_numpy_deserializer_csv_differences() -> None:
    ours, theirs = sdk.NumpyDeserializer(), sdk_de.NumpyDeserializer()
    # Integer and float columns: float64 (the SDK: a structured array).
    assert same_array(ours.deserialize(body(b"1,0.5\n0,0.7\n"), CSV), np.array([[1.0, 0.5], [0.0, 0.7]]))
    assert theirs.deserialize(body(b"1,0.5\n0,0.7\n"), CSV).dtype.names == ("f0", "f1")
    # A missing value is NaN (the SDK: -1 in an integer column).
    got = ours.deserialize(body(b"1,,3\n4,5,6\n"), CSV)
    assert got.dtype == np.float64 and np.isnan(got[0, 1]) and got[1].tolist() == [4.0, 5.0, 6.0]
    assert theirs.deserialize(body(b"1,,3\n4,5,6\n"), CSV).tolist() == [[1, -1, 3], [4, 5, 6]]
    # Media type parameters are honoured (the SDK refuses them).
    assert ours.deserialize(body(b"1,2\n3,4\n"), "text/csv; charset=utf-8").tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="cannot read content type"):
        theirs.deserialize(body(b"1,2\n3,4\n"), "text/csv; charset=utf-8")
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        ours.deserialize(body(b"1,2\n"), "text/csv; charset=latin-1")
    assert type(e.value) is smp.UnsupportedMediaTypeError
    assert (e.value.content_type, e.value.reason) == (
        "text/csv; charset=latin-1",
        "charset 'latin-1' is not supported",
    )
    # A byte order mark is skipped (the SDK makes the first value text: a structured array).
    assert ours.deserialize(body(b"\xef\xbb\xbf1,2\n3,4\n"), CSV).tolist() == [[1, 2], [3, 4]]
    assert theirs.deserialize(body(b"\xef\xbb\xbf1,2\n3,4\n"), CSV).dtype.names is not None
    # An empty body is an empty float64 array (the SDK: a structured array with no fields).
    assert same_array(ours.deserialize(body(b""), CSV), np.empty(0))
    # A different number of fields per row: an error in both.
    a, b = both_raise(
        smp.DecodeError,
        ValueError,
        lambda: ours.deserialize(body(b"1,2\n3\n"), CSV),
        lambda: theirs.deserialize(body(b"1,2\n3\n"), CSV),
    )
    genfromtxt = "Some errors were detected !\n    Line #2 (got 1 columns instead of 2)"  # numpy's text
    assert str(b) == genfromtxt
    assert a.reason == f"not a numeric table: {genfromtxt}"
    assert (a.line, a.offset) == (2, 4)
    # numpy counts lines from the first one that holds data; ours counts from the body's start.
    with pytest.raises(smp.DecodeError) as e:
        ours.deserialize(body(b"\n\n1,2\n# x\n3,4\n5\n"), CSV)
    assert "Line #4 (got 1 columns instead of 2)" in e.value.reason
    assert (e.value.line, e.value.offset) == (6, 14)
    # A byte order mark is skipped, and counted in the offset.
    with pytest.raises(smp.DecodeError) as e:
        ours.deserialize(body(b"\xef\xbb\xbf1,2\n3,4\n5,6,7\n"), CSV)
    assert (e.value.line, e.value.offset) == (3, 11)


@needs_sdk
@given(
    st.sampled_from([np.float64, np.int64, np.bool_]).flatmap(
        lambda dt: hnp.arrays(
            dt,
            hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
            elements=None if dt != np.float64 else st.floats(allow_nan=False, allow_infinity=False),
        )
    ),
    st.sampled_from([None, "float32"]),
)
def test_numpy_deserializer_json_matches_sdk(X: np.ndarray, dtype: Any) -> None:
    raw = json.dumps(X.tolist()).encode()
    with np.errstate(over="ignore"):  # beyond float32: inf in both
        ours = sdk.NumpyDeserializer(dtype=dtype).deserialize(body(raw), JSON)
        assert same_array(ours, sdk_de.NumpyDeserializer(dtype=dtype).deserialize(body(raw), JSON))


@needs_sdk
def test_numpy_deserializer_json_npz_and_unknown_types() -> None:
    raw = b'{"predictions": [1]}'
    ours = sdk.NumpyDeserializer().deserialize(body(raw), JSON)
    theirs = sdk_de.NumpyDeserializer().deserialize(body(raw), JSON)
    assert (
        ours.dtype == theirs.dtype == object
        and ours.shape == theirs.shape == ()
        and ours.item() == theirs.item()
    )
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(3), b=np.eye(2))
    o, t = (
        d.deserialize(body(buf.getvalue()), NPZ)
        for d in (sdk.NumpyDeserializer(), sdk_de.NumpyDeserializer())
    )
    assert sorted(o.files) == sorted(t.files) == ["a", "b"]
    assert all(same_array(o[k], t[k]) for k in ("a", "b"))
    a, b = both_raise(
        smp.UnsupportedMediaTypeError,
        ValueError,
        lambda: sdk.NumpyDeserializer().deserialize(body(b"1"), "image/png"),
        lambda: sdk_de.NumpyDeserializer().deserialize(body(b"1"), "image/png"),
    )
    assert str(b) == "NumpyDeserializer cannot read content type image/png."
    assert (a.content_type, a.reason, a.status_hint) == (
        "image/png",
        "NumpyDeserializer cannot read this content type",
        415,
    )
    assert str(a) == (
        "'image/png': NumpyDeserializer cannot read this content type; supported: text/csv, "
        "application/json, application/x-npy, application/x-npz"
    )


# ======================================================================================
# RecordDeserializer / RecordBatchDeserializer
# ======================================================================================


@needs_sdk
@given(record_batches())
def test_record_deserializer_matches_sdk(batch: smp.RecordBatch) -> None:
    raw = rp.encode(batch)
    ours = sdk.RecordDeserializer().deserialize(body(raw), RIO)
    theirs = sdk_de.RecordDeserializer().deserialize(body(raw), RIO)
    assert all(isinstance(r, record_pb2.Record) for r in ours)
    assert [r.SerializeToString(deterministic=True) for r in ours] == [
        r.SerializeToString(deterministic=True) for r in theirs
    ]


def magic_record() -> bytes:
    """A record whose protobuf bytes hold the RecordIO magic at an aligned offset."""
    mv = np.frombuffer(MAGIC, "<f4")[0]
    for k in range(1, 8):
        m = record_pb2.Record()
        m.features["values"].float32_tensor.values.extend([1.0] * k + [mv])
        pb = m.SerializeToString()
        if pb.find(MAGIC) % 4 == 0:
            return pb
    raise AssertionError("no aligned magic")  # pragma: no cover


@needs_sdk
def test_record_deserializer_joins_multipart_records() -> None:
    from google.protobuf.message import DecodeError as ProtobufDecodeError

    pb = magic_record()
    other = record_pb2.Record()
    other.label["score"].float32_tensor.values.append(3.5)
    raw = recordio.write_records([pb, other.SerializeToString()])  # dmlc framing: cflag 1 + 3
    assert raw[4:8] != struct.pack("<I", len(pb))  # the first frame is split
    got = sdk.RecordDeserializer().deserialize(body(raw), RIO)
    assert [r.SerializeToString() for r in got] == [pb, other.SerializeToString()]
    # The SDK reads the cflag bits as part of the length and fails.
    with pytest.raises(ProtobufDecodeError):
        sdk_de.RecordDeserializer().deserialize(body(raw), RIO)


@needs_sdk
def test_record_deserializer_errors() -> None:
    from google.protobuf.internal import api_implementation
    from google.protobuf.message import DecodeError as ProtobufDecodeError

    # protobuf's parse error text is its backend's (python: PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python).
    parse_error = {
        "upb": "Error parsing message with type 'aialgs.data.Record'",
        "python": "Truncated message.",
    }[api_implementation.Type()]
    with pytest.raises(smp.DecodeError) as e:
        sdk.RecordDeserializer().deserialize(body(b"\x00" * 8), RIO)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset, e.value.record_index) == (
        "bad magic 0x00000000, expected 0xced7230a",
        0,
        0,
    )
    with pytest.raises(AssertionError):
        sdk_de.RecordDeserializer().deserialize(body(b"\x00" * 8), RIO)
    good = rp.encode(smp.from_dense(np.array([[1.5]], np.float32)))
    with pytest.raises(smp.DecodeError) as e:
        sdk.RecordDeserializer().deserialize(body(good[:-2]), RIO)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset, e.value.record_index) == (
        "frame length 20 exceeds the 18 bytes left",
        0,
        0,
    )
    with pytest.raises(ProtobufDecodeError) as pe:  # the SDK reads short, then parses
        sdk_de.RecordDeserializer().deserialize(body(good[:-2]), RIO)
    assert type(pe.value) is ProtobufDecodeError
    assert str(pe.value) == parse_error
    bad = recordio.write_records([b"\xff\xff"], escape=False)
    with pytest.raises(smp.DecodeError) as e:
        sdk.RecordDeserializer().deserialize(body(bad), RIO)
    assert type(e.value) is smp.DecodeError
    assert (e.value.reason, e.value.offset, e.value.record_index) == (
        f"not an aialgs.data.Record: {parse_error}",
        0,
        0,
    )


def test_record_batch_deserializer_equals_decode_response() -> None:
    out = smp.RecordBatch(
        label={"score": np.array([0.25, 0.75], np.float32), "predicted_label": np.array([0, 1], np.int32)}
    )
    for ct in (RIO, CSV):
        raw = smp.encode_response(out, ct)
        got = sdk.RecordBatchDeserializer().deserialize(body(raw), ct)
        assert isinstance(got, smp.RecordBatch)
        assert got == smp.decode_response(raw, ct)
    assert sdk.RecordBatchDeserializer().deserialize(body(smp.encode_response(out, RIO)), RIO) == out
    raw = smp.encode_response(np.array([1.5, 2.5]), NPY)
    got = sdk.RecordBatchDeserializer(key="out").deserialize(body(raw), NPY)  # options reach the codec
    assert got.label["out"].tolist() == [1.5, 2.5]
    for ct, reason in [("image/png", "unsupported media type"), ("", "the response has no Content-Type")]:
        with pytest.raises(smp.UnsupportedMediaTypeError) as e:
            sdk.RecordBatchDeserializer().deserialize(body(b"x"), ct)
        assert type(e.value) is smp.UnsupportedMediaTypeError
        assert (e.value.content_type, e.value.reason) == (ct, reason)


# ======================================================================================
# Hostile input: only our errors
# ======================================================================================

DECODERS = [
    (sdk.CSVDeserializer(), CSV),
    (sdk.JSONDeserializer(), JSON),
    (sdk.JSONLinesDeserializer(), JSONL),
    (sdk.NumpyDeserializer(), CSV),
    (sdk.NumpyDeserializer(), JSON),
    (sdk.NumpyDeserializer(), NPY),
    (sdk.RecordDeserializer(), RIO),
    (sdk.RecordBatchDeserializer(), RIO),
    (sdk.RecordBatchDeserializer(), CSV),
    (sdk.RecordBatchDeserializer(), JSON),
    (sdk.RecordBatchDeserializer(), JSONL),
]


@given(
    st.sampled_from(DECODERS),
    st.one_of(
        st.binary(max_size=64),
        st.text(st.sampled_from('0123456789.,-e"\n\r []{}:natrufl'), max_size=40).map(str.encode),
    ),
)
def test_garbage_gives_only_decode_errors(decoder: tuple[Any, str], raw: bytes) -> None:
    d, content_type = decoder
    with contextlib.suppress(smp.DecodeError):  # anything else fails the test
        d.deserialize(body(raw), content_type)


@given(st.text(st.characters(codec="utf-8", exclude_characters='"'), max_size=30))
def test_csv_deserializer_unquoted_text_is_what_csv_reader_reads(text: str) -> None:
    want = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    assert sdk.CSVDeserializer().deserialize(body(text.encode()), CSV) == want


# ======================================================================================
# The body itself: the package's one input rule (sm_payloads._buffers.as_bytes)
# ======================================================================================

_X = np.array([[1.5, 2.0], [3.0, 4.5]], np.float32)
_BODIES = [
    (sdk.CSVDeserializer(), CSV, b"1,a\n2,b\n"),
    (sdk.JSONDeserializer(), JSON, b'{"a": [1, 2.5]}'),
    (sdk.JSONLinesDeserializer(), JSONL, b'{"a": 1}\n{"a": 2}\n'),
    (sdk.NumpyDeserializer(), CSV, b"1,2\n3,4.5\n"),
    (sdk.NumpyDeserializer(), JSON, b"[[1, 2], [3, 4.5]]"),
    (sdk.NumpyDeserializer(), NPY, sdk.NumpySerializer().serialize(_X)),
    (sdk.RecordDeserializer(), RIO, sdk.RecordSerializer().serialize(_X).getvalue()),
    (sdk.RecordBatchDeserializer(), RIO, sdk.RecordSerializer().serialize(_X).getvalue()),
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return same_array(a, b)
    return bool(a == b)


@pytest.mark.parametrize(("d", "content_type", "raw"), _BODIES)
def test_a_body_given_as_a_buffer_reads_as_the_stream_does(d: Any, content_type: str, raw: bytes) -> None:
    want = d.deserialize(body(raw), content_type)
    for data in (
        raw,
        bytearray(raw),
        memoryview(raw),
        memoryview(b"xx" + raw)[2:],
        np.frombuffer(raw, np.uint8),
    ):
        assert _same(d.deserialize(data, content_type), want), type(data).__name__


@pytest.mark.parametrize(("d", "content_type", "raw"), _BODIES[:5])
def test_a_text_body_or_text_stream_is_utf8(d: Any, content_type: str, raw: bytes) -> None:
    want = d.deserialize(body(raw), content_type)
    assert _same(d.deserialize(raw.decode(), content_type), want)
    assert _same(d.deserialize(io.StringIO(raw.decode()), content_type), want)


def test_a_body_that_is_not_a_buffer_is_a_type_error_and_the_stream_is_closed() -> None:
    with pytest.raises(TypeError) as e:
        sdk.JSONDeserializer().deserialize(5, JSON)
    assert str(e.value) == "expected a bytes-like object or str, got int"

    class Odd(io.BytesIO):
        def read(self, n: int | None = -1) -> Any:  # type: ignore[override]
            return 5

    s = Odd()
    with pytest.raises(TypeError):
        sdk.CSVDeserializer().deserialize(s, CSV)
    assert s.closed


def test_numpy_deserializer_names_the_content_type_as_given() -> None:
    d = sdk.NumpyDeserializer()
    for content_type in ("text/csv;charset=latin-1", "Text/CSV ; charset = LATIN-1"):
        with pytest.raises(smp.UnsupportedMediaTypeError) as e:
            d.deserialize(body(b"1,2\n"), content_type)
        assert e.value.content_type == content_type
        assert e.value.supported == (CSV, JSON, NPY, NPZ)
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        d.deserialize(body(b""), "Application/X-Recordio-Protobuf")
    assert str(e.value) == (
        "'Application/X-Recordio-Protobuf': NumpyDeserializer cannot read this content type; "
        "supported: text/csv, application/json, application/x-npy, application/x-npz"
    )
    # Parameters other than charset change nothing (the CSV codec does not see them).
    assert same_array(
        d.deserialize(body(b"1,2\n3,4\n"), "text/csv; label_size=1; header=present"),
        np.array([[1, 2], [3, 4]]),
    )


@pytest.mark.parametrize(
    ("raw", "fast"),
    [
        (b"[-0.0010487965773791075, 1.5e+123]", True),
        (b"[12345678901234567890.5]", True),
        (b'{"a": 99999999999999999999}', False),
        (b"[-1234567890123456789012]", False),
        (b'["1234567890123456789012"]', False),
    ],
)
def test_json_deserializer_sends_only_long_integers_to_json(raw: bytes, fast: bool) -> None:
    """orjson parses the body unless it holds an integer orjson would read as a float; the
    result is json.loads's either way."""
    import orjson

    with mock.patch.object(sdk.json, "loads", wraps=json.loads) as slow:
        got = sdk.JSONDeserializer().deserialize(body(raw), JSON)
    assert slow.called is not fast
    assert repr(got) == repr(json.loads(raw))
    if fast:
        assert repr(got) == repr(orjson.loads(raw))
