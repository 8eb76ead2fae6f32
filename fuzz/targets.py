"""The fuzz targets: one function per decoder (and one for the serving handler), each taking
the fuzzer's bytes, and the seeds each starts from.

A target returns normally or raises one of our typed errors (`sm_payloads.PayloadError`
and its subclasses); anything else is a finding (see `fuzz.harness`). Options that change
how a decoder reads (label size, dtype, batch size, streaming or not...) are taken from the
input's first byte (the *selector*), so the fuzzer explores them too; the rest is the body.

Seeds come from the golden payloads the real SageMaker SDK wrote (``tests/golden``) and small
valid payloads written here by our own encoders, so the fuzzer starts inside every format's
grammar.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

import sm_payloads as smp
from sm_payloads import algorithms, autopilot, mime, recordio, serving
from sm_payloads.formats import _csv_text, _record_reader
from sm_payloads.formats import _json_layout as json_layout
from sm_payloads.formats import csv as csv_format
from sm_payloads.formats import json as json_format
from sm_payloads.formats import jsonlines as jsonl_format
from sm_payloads.formats import libsvm as libsvm_format
from sm_payloads.formats import npy as npy_format
from sm_payloads.formats import recordio_protobuf as rp

__all__ = ["TARGETS", "Target", "fixture_files"]

#: The golden payloads written by the real SageMaker SDK (tests/golden, scripts/make_golden.py).
GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"


@dataclass(frozen=True)
class Target:
    """One harness: `run` checks one input; `seeds` are the bodies it starts from (each
    is prefixed with every selector in `seed_selectors`)."""

    name: str
    what: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    seed_selectors: tuple[int, ...] = (0,)
    #: One large valid input (selector byte first) on the format's fast path: the harness
    #: times it once at start and bounds every scaled input's CPU time per byte by a
    #: multiple of its rate (`fuzz.harness.TIME_FACTOR`). None: no such bound (mime).
    fast: Callable[[], bytes] | None = None
    #: The selectors that bound applies to: those that decode the body whole (a streaming
    #: read with a batch of 1-4 records costs a batch per record, the caller's choice).
    whole: Callable[[int], bool] = lambda sel: True
    #: The seeds are whole inputs, their selector byte first (a body fits one selector),
    #: rather than bodies given every selector of `seed_selectors`.
    selected: bool = False

    def seed_inputs(self) -> Iterator[bytes]:
        for body in self.seeds():
            if self.selected:
                yield body
                continue
            for s in self.seed_selectors:
                yield bytes([s]) + body


def _split(data: bytes) -> tuple[int, bytes]:
    return (data[0], data[1:]) if data else (0, b"")


def _drain(it: Iterator[smp.RecordBatch]) -> int:
    return sum(len(b) for b in it)


# ======================================================================================
# Sample batches (the seeds' content)
# ======================================================================================


def _sample_batches() -> list[smp.RecordBatch]:
    f32 = np.array([[1.5, 16.0, 14.0, 23.0], [-2.0, 100.2, 15.2, 9.2]], np.float32)
    out = [
        smp.from_dense(f32),
        smp.from_dense(f32, np.array([1.0, 0.0], np.float32)),
        smp.from_dense(f32.astype(np.float64), np.array([0.5, np.nan])),
        smp.from_dense(np.array([[1, -2], [2**31 - 1, -(2**31)]], np.int32)),
        smp.from_sparse(
            sp.csr_array(
                (np.array([1.0, 4.0, 13.0], np.float32), np.array([26, 182, 0]), np.array([0, 2, 3])),
                shape=(2, 2000),
            ),
            np.array([1.0, 0.0], np.float32),
        ),
        smp.RecordBatch(
            {"values": smp.Ragged.from_lists([[1, 2, 3], [4]], dtype="int32")},
            {"score": np.array([0.25, 0.75], np.float32)},
            uid=["a", "b"],
            metadata=['{"m": 1}', None],
        ),
        smp.RecordBatch({"values": np.array(["entity_id_1", "192.168.1.2"], dtype=object)}),
    ]
    return out


def _responses() -> list[smp.RecordBatch]:
    return [
        smp.RecordBatch(
            label={
                "closest_cluster": np.array([5.0, 1.0], np.float32),
                "distance_to_cluster": np.array([36.5, 0.25], np.float32),
            }
        ),
        smp.RecordBatch(label={"projection": np.array([[0.5, -1.25], [2.0, 3.0]], np.float32)}),
        smp.RecordBatch(label={"score": np.array([0.1, 0.9]), "predicted_label": np.array([0.0, 1.0])}),
    ]


def _try(fn: Callable[[], bytes]) -> list[bytes]:
    try:
        return [fn()]
    except smp.PayloadError:
        return []


def _golden_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))["cases"]
    return cases


def fixture_files() -> list[Path]:
    """The golden RecordIO-protobuf files the real SDK wrote."""
    return [GOLDEN / c["file"] for c in _golden_cases() if c["content_type"] == rp.CONTENT_TYPE]


def _fixture_payloads() -> dict[str, list[bytes]]:
    """The golden CSV / JSON / JSON Lines / npy bodies the SDK and the inference toolkit wrote."""
    kinds = {"text/csv": "csv", "application/json": "json", "application/jsonlines": "jsonl"}
    kinds["application/x-npy"] = "npy"
    out: dict[str, list[bytes]] = {"csv": [], "json": [], "jsonl": [], "npy": []}
    for case in _golden_cases():
        if case["content_type"] in kinds:
            out[kinds[case["content_type"]]].append((GOLDEN / case["file"]).read_bytes())
    return out


def _encoded(content_type: str, *, response: bool = False) -> list[bytes]:
    out: list[bytes] = []
    enc = smp.encode_response if response else smp.encode_request
    for b in _responses() if response else _sample_batches():
        out += _try(lambda b=b: enc(b, content_type))  # type: ignore[misc]
    return out


# ======================================================================================
# The targets
# ======================================================================================


def run_recordio(data: bytes) -> None:
    sel, body = _split(data)
    join = not sel & 1
    source: Any = io.BytesIO(body) if sel & 2 else body
    for rec in recordio.iter_records(source, join_magic=join):
        len(rec)


def seeds_recordio() -> list[bytes]:
    out = [p.read_bytes() for p in fixture_files()]
    out.append(recordio.write_records([b"abc", recordio.MAGIC_BYTES + b"\x01\x02\x03\x04", b""]))
    out.append(recordio.write_records([b"x" * 8 + recordio.MAGIC_BYTES + b"yz"]))
    return out


def run_recordio_protobuf(data: bytes) -> None:
    """Selector bit 32: the body is one Record's protobuf bytes, framed here 1 to 4 times
    (so mutations of the protobuf never break the framing)."""
    sel, body = _split(data)
    if sel & 32:
        body = recordio.write_records([body] * (1 + (sel >> 6)), escape=False)
    copy = bool(sel & 1)
    size = 1 + (sel >> 1 & 3)
    whole: smp.RecordBatch | None = None
    with contextlib.suppress(smp.DecodeError):
        whole = rp.decode(body, copy=copy)
    if sel & 8:
        rp.decode_records(body)
    parts: list[smp.RecordBatch] = []
    source: Any = io.BytesIO(body) if sel & 16 else body
    try:
        parts = list(rp.iter_decode(source, batch_size=size, copy=copy))
    except smp.DecodeError:
        if whole is not None:
            raise AssertionError("iter_decode failed where decode succeeded") from None
        raise
    if whole is None:
        try:
            smp.RecordBatch.concat(parts)
        except ValueError:
            return  # batches that disagree with each other (column kinds, dtypes): decode's error stands
        raise AssertionError("iter_decode succeeded where decode failed")
    if len(whole) and not smp.RecordBatch.concat(parts).equals(whole, bitwise=True):
        raise AssertionError("iter_decode batches differ from decode")
    # Whichever fast reader read the body, the careful reader gives the same batch (Rule 1
    # of sm_payloads.formats._record_reader): a fast reader is never laxer.
    view = memoryview(body)
    starts, lengths, joined = recordio.frame_table(view, rp.CONTENT_TYPE)
    try:
        careful = _record_reader.careful_decode(view, starts, lengths, joined, 0, 0)
    except smp.DecodeError as e:
        raise AssertionError(f"decode read a body the careful reader refuses: {e}") from None
    if not careful.equals(whole, bitwise=True):
        raise AssertionError("decode's batch differs from the careful reader's")


def _merged_records() -> list[bytes]:
    """Records protobuf merges (a tensor twice in a value, a value in two parts, values in
    two runs and unpacked, a uid), different from one another so that the vectorized reader
    reads them together."""

    def ld(field: int, payload: bytes) -> bytes:
        return bytes([field << 3 | 2, len(payload)]) + payload

    one = np.float32([1.5]).tobytes()
    two = np.float32([2.5, -0.0]).tobytes()
    entry = b"\x0a\x01v\x12"
    return [
        ld(1, entry + bytes([len(ld(2, ld(1, one)) * 2)]) + ld(2, ld(1, one)) * 2),
        ld(1, b"\x0a\x01v" + ld(2, ld(2, ld(1, one))) + ld(2, ld(2, ld(1, two)))),
        ld(1, entry + bytes([len(ld(2, ld(1, one) + b"\x0d" + one))]) + ld(2, ld(1, one) + b"\x0d" + one)),
        ld(1, b"\x0a\x01w\x12" + bytes([len(ld(7, b"\x08\x05\x08\x7f"))]) + ld(7, b"\x08\x05\x08\x7f"))
        + ld(3, b"u"),
    ]


def seeds_recordio_protobuf() -> list[bytes]:
    framed = [p.read_bytes() for p in fixture_files()] + _encoded(rp.CONTENT_TYPE)
    merged = _merged_records()
    framed += [recordio.write_records(merged[:2]), recordio.write_records(merged[2:] + merged[:1])]
    records: list[bytes] = []
    for body in framed:
        with contextlib.suppress(smp.DecodeError):
            records += [bytes(r) for r in recordio.iter_records(body)][:3]
    return framed + records


_CSV_DTYPES: tuple[Any, ...] = (None, "float32", "int32", str)


def run_csv(data: bytes) -> None:
    sel, body = _split(data)
    label_size = sel % 3
    dtype = _CSV_DTYPES[sel >> 2 & 3]
    header = bool(sel & 16)
    if sel & 32:
        csv_format.decode_response(body, header=header, dtype=dtype)
    elif sel & 64:
        source: Any = io.BytesIO(body) if sel & 128 else body
        _drain(csv_format.iter_decode(source, batch_size=1 + sel % 4, label_size=label_size, dtype=dtype))
    else:
        csv_format.decode(body, label_size=label_size, header=header, dtype=dtype)


def seeds_csv() -> list[bytes]:
    return (
        _fixture_payloads()["csv"]
        + _encoded("text/csv")
        + _encoded("text/csv;label_size=1")
        + _encoded("text/csv", response=True)
        + [b'1.5,"a,b",\n"x""y",2\r\n', b"a,b\n1,2\n", b"0.4,\"[0.4, 0.6]\",\"['a', 'b']\"\n"]
    )


def run_json(data: bytes) -> None:
    sel, body = _split(data)
    allow_nan = bool(sel & 1)
    dtype = (None, "float32", "int32", None)[sel >> 1 & 3]
    if sel & 8:
        json_format.decode_response(body, allow_nan=allow_nan, dtype=dtype)
    else:
        json_format.decode(body, allow_nan=allow_nan, dtype=dtype)


def seeds_json() -> list[bytes]:
    return (
        _fixture_payloads()["json"]
        + _encoded("application/json")
        + _encoded("application/json", response=True)
        + [
            b'{"instances": [{"data": {"features": {"values": [-3, -1, -4, 2]}}}, '
            b'{"features": [3.0, 0.1, 0.04, 0.002]}]}',
            b'{"instances": [{"data": {"features": {"keys": [26, 182], "shape": [2000], '
            b'"values": [1, 1]}}}]}',
            b'{"scores": [{"score": 0.02}, {"score": NaN}]}',
            b"[[1, 2], [3, 4]]",
            # shapes that once cost an object per record (docs/reliability.md)
            b"[[1], 1, 1, 1, 1, 1, 1, 1]",
            b'{"instances": [{"data": {"features": {"keys": [3], "shape": [9], "values": [1.0]}}}, '
            b'{"data": {"features": {"keys": [5], "shape": [9], "values": [2.0]}}}]}',
            b'{"predictions": [1, 2, 3, 4]}',
            # data and label objects, tensor objects, sparse records with a label (column by column)
            b'{"instances":[{"data":{"features":{"values":[1.5,2.5]}},"label":{"values":{"values":[1.0]}}},'
            b'{"data":{"features":{"values":[3,4]}},"label":{"values":{"values":[0]}},"uid":"u"}]}',
            b'{"instances":[{"data":{"features":{"keys":[0,2],"shape":[3],"values":[1.5,2.5]}},'
            b'"label":{"values":{"values":[1.0]}}},{"data":{"features":{"shape":[3]}},"label":{"y":[1]}}]}',
        ]
    )


def run_jsonlines(data: bytes) -> None:
    sel, body = _split(data)
    allow_nan = bool(sel & 1)
    response = bool(sel & 2)
    if sel & 4:
        source: Any = io.BytesIO(body) if sel & 8 else body
        block = (1, 7, 64, 1 << 16)[sel >> 4 & 3]
        _drain(
            jsonl_format.iter_decode(
                source, batch_size=1 + (sel >> 6), allow_nan=allow_nan, response=response, block_size=block
            )
        )
    elif response:
        jsonl_format.decode_response(body, allow_nan=allow_nan)
    else:
        jsonl_format.decode(body, allow_nan=allow_nan)


def seeds_jsonlines() -> list[bytes]:
    return (
        _fixture_payloads()["jsonl"]
        + _encoded("application/jsonlines")
        + _encoded("application/jsonlines", response=True)
        + [
            b'{"features": [1]}\n\n{"features": [2]}\r\n{"features": [3]}',
            b"1\n2\n\n\n\n3\n",
            b'{"a": "x"}\n{"a": "y"}\n',
            b'{"data": {"a": {"values": [1]}}, "label": {"y": 2}}\n{"label": {"y": 3}, "data": {"a": [4]}}\n',
        ]
    )


def run_npy(data: bytes) -> None:
    sel, body = _split(data)
    copy = bool(sel & 1)
    which = sel >> 1 & 3
    if which == 0:
        npy_format.decode(body, copy=copy)
    elif which == 1:
        npy_format.decode_response(body, copy=copy)
    else:
        npy_format.decode_array(body, copy=copy)


def seeds_npy() -> list[bytes]:
    out = (
        _fixture_payloads()["npy"]
        + _encoded("application/x-npy")
        + _encoded("application/x-npy", response=True)
    )
    for a in (
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3)),
        np.array(True),
        np.zeros((2, 0, 3), "<u8"),
    ):
        buf = io.BytesIO()
        np.save(buf, a)
        out.append(buf.getvalue())
    return out


def run_libsvm(data: bytes) -> None:
    sel, body = _split(data)
    base = sel & 1
    dtype = np.float32 if sel & 2 else np.float64
    num_features = (None, 4, 3000, None)[sel >> 2 & 3]
    if sel & 16:
        source: Any = io.BytesIO(body) if sel & 32 else body
        _drain(
            libsvm_format.iter_decode(
                source, batch_size=1 + (sel >> 6), index_base=base, num_features=num_features, dtype=dtype
            )
        )
    else:
        libsvm_format.decode(body, index_base=base, num_features=num_features, dtype=dtype)


def seeds_libsvm() -> list[bytes]:
    return [
        *_encoded("text/libsvm"),
        b"1 0:0.5 3:2\n0 1:1\n",
        b"2 qid:3 1:1e-3 7:-inf\r\n\n-1\n",
        b"0 1:1 1:2\n",
    ]


_ALGO_CASES: tuple[tuple[str, str], ...] = tuple(
    (name, ct)
    for name, schema in algorithms.SCHEMAS.items()
    for ct in (
        *schema.accept,
        *(
            (f"{schema.accept[0]}; verbose=true", f"{schema.accept[0]}; verbose=false")
            if schema.verbose
            else ()
        ),
    )
)


def run_algorithms(data: bytes) -> None:
    sel, body = _split(data)
    name, ct = _ALGO_CASES[sel % len(_ALGO_CASES)]
    dtype = "schema" if sel >= 128 else None
    algorithms.decode_response(body, ct, name, dtype=dtype)


def seeds_algorithms() -> list[bytes]:
    out: list[bytes] = []
    for b in _responses():
        for ct in ("application/json", "application/jsonlines", rp.CONTENT_TYPE, "text/csv"):
            for name in ("kmeans", "pca", "linear-learner"):
                out += _try(lambda b=b, ct=ct, name=name: algorithms.encode_response(b, ct, name))  # type: ignore[misc]
    out.append(b'{"projections": [{"projection": [1.0, 2.0]}]}')
    out.append(b'{"predictions": [{"predicted_label": 1.0, "distances": [0.5], "labels": [1.0]}]}')
    return out


def _algo_selectors() -> tuple[int, ...]:
    return tuple(range(len(_ALGO_CASES)))


_MIME_OFFERS = ("application/json", "text/csv", "application/jsonlines", "application/x-recordio-protobuf")


def run_mime(data: bytes) -> None:
    sel, body = _split(data)
    text = body.decode("latin-1") if sel & 1 else body.decode("utf-8", "replace")
    try:
        media = mime.MediaType.parse(text)
    except smp.UnsupportedMediaTypeError:
        media = None
    if media is not None:
        again = mime.MediaType.parse(str(media))
        if again != media:
            raise AssertionError(f"MediaType.parse(str(m)) != m: {media!r} -> {str(media)!r} -> {again!r}")
    with contextlib.suppress(smp.NotAcceptableError):
        mime.parse_accept(text)
    default = (None, "text/csv", "application/json", None)[sel >> 1 & 3]
    with contextlib.suppress(smp.NotAcceptableError):
        mime.negotiate(text, _MIME_OFFERS, default)
    smp.get_codec(text)


def seeds_mime() -> list[bytes]:
    return [
        b"text/csv; label_size=1; charset=utf-8",
        b'application/json; verbose="True"',
        b"application/json;q=0.5, text/csv, */*;q=0.1",
        b"application/x-recordio-protobuf",
        b"text/libsvm",
        b"application/jsonlines; infer_max_seqlens=5,5",
        b"text/*;q=0.3, application/JSON; verbose=True",
        b"application/x-npy",
    ]


_SERVE_TYPES: tuple[str | None, ...] = (
    "application/json",
    "text/csv",
    "text/csv;label_size=1",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "application/x-npy",
    "text/libsvm",
    None,
)
_SERVE_ACCEPTS: tuple[str | None, ...] = (None, "*/*", *(t for t in _SERVE_TYPES if t), "text/libsvm")


class _Unexpected(logging.Handler):
    """Collects exceptions that `handle` logged instead of raising (a 500 hiding a crash)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if not isinstance(exc, (smp.PayloadError, _PredictFailed)):
                self.seen.append(exc)


class _PredictFailed(Exception):
    pass


_LOGGED = _Unexpected()
_serving_log = logging.getLogger("sm_payloads.serving")


def _predict(batch: smp.RecordBatch) -> Any:
    """Echo the features as outputs: every column kind reaches the encoders."""
    if not batch.features:
        return np.zeros(len(batch), np.float32)
    return smp.RecordBatch(label=dict(batch.features), n=len(batch))


def run_serving(data: bytes) -> None:
    sel, body = _split(data)
    ct = _SERVE_TYPES[sel % len(_SERVE_TYPES)]
    accept = _SERVE_ACCEPTS[(sel >> 3) % len(_SERVE_ACCEPTS)]
    _LOGGED.seen.clear()
    _serving_log.addHandler(_LOGGED)
    try:
        resp = serving.handle(body, ct, accept, _predict, env={})
    finally:
        _serving_log.removeHandler(_LOGGED)
    if _LOGGED.seen:
        raise _LOGGED.seen[0]
    if resp.status not in (200, 400, 406, 413, 415, 500):
        raise AssertionError(f"status {resp.status}")
    if resp.status == 200:
        smp.decode_response(resp.body, resp.content_type)


def seeds_serving() -> list[bytes]:
    out: list[bytes] = []
    for ct in _SERVE_TYPES:
        if ct is not None:
            out += _encoded(ct)
    return out


# The answers of Autopilot model containers: the selector's low six bits pick the content
# type, the role and the keys (0-53; 54-63: CSV with charset=us-ascii, four key sets); bit
# 64 hands the body over as a bytearray; bit 128 also checks that the column routes (C
# kernels, and their pure twins) read it as the per-record reader does.
_AP_TYPES = ("text/csv", "application/json", "application/jsonlines")
_AP_ROLES: tuple[autopilot.Role, ...] = ("algorithm", "post-processing", "ensemble")
_AP_KEYS: tuple[tuple[str, ...], ...] = (
    ("predicted_label", "probability"),
    autopilot.KEYS,
    ("predicted_label", "probabilities"),
    ("probability",),
    ("predicted_label",),
    ("labels", "probabilities"),
)
_AP_CASES = len(_AP_TYPES) * len(_AP_ROLES) * len(_AP_KEYS)
_AP_ASCII = "text/csv; charset=us-ascii"


def _ap_case(sel: int) -> tuple[str, autopilot.Role, tuple[str, ...]]:
    i = sel & 63
    if i >= _AP_CASES:  # CSV read as US-ASCII
        return _AP_ASCII, _AP_ROLES[(i - _AP_CASES) % 3], _AP_KEYS[(i - _AP_CASES) // 3]
    return _AP_TYPES[i % 3], _AP_ROLES[i // 3 % 3], _AP_KEYS[i // 9]


def _ap_selector(ct: str, role: str, keys: tuple[str, ...]) -> int:
    if ct == _AP_ASCII:
        return _AP_CASES + _AP_ROLES.index(role) + 3 * _AP_KEYS.index(keys)
    return _AP_TYPES.index(ct) + 3 * _AP_ROLES.index(role) + 9 * _AP_KEYS.index(keys)


@contextlib.contextmanager
def _ap_pure() -> Iterator[None]:
    """The Autopilot readers with their C kernels switched off (the twins read)."""
    saved = autopilot._CNUM, autopilot._CREC, json_layout._CREC
    autopilot._CNUM = autopilot._CREC = json_layout._CREC = None
    try:
        yield
    finally:
        autopilot._CNUM, autopilot._CREC, json_layout._CREC = saved


def _ap_outcome(f: Callable[[], smp.RecordBatch]) -> Any:
    """A batch, or the typed error's fields (type, reason, offset, record, line)."""
    try:
        return f()
    except smp.DecodeError as e:
        return ("DecodeError", e.content_type, e.reason, e.offset, e.record_index, e.line)


def _ap_column(a: Any) -> Any:
    """A column as comparable values: dtype, shape and every value's bytes (floats bit for
    bit; object columns by the repr of their values, so NaN equals NaN and 1 is not 1.0)."""
    if isinstance(a, smp.Ragged):
        valid = None if a.valid is None else a.valid.tolist()
        return ("ragged", a.values.dtype.str, a.values.tobytes(), a.offsets.tolist(), valid)
    if a.dtype == object:
        return ("object", a.shape, repr(a.tolist()))
    return (a.dtype.str, a.shape, a.tobytes())


def _ap_same(got: Any, want: Any, what: str) -> None:
    if isinstance(got, smp.RecordBatch) and isinstance(want, smp.RecordBatch):
        if len(got) != len(want) or list(got.label) != list(want.label):
            raise AssertionError(
                f"{what}: {len(got)} records {list(got.label)}, want {len(want)} {list(want.label)}"
            )
        for k in want.label:
            if _ap_column(got.label[k]) != _ap_column(want.label[k]):
                raise AssertionError(f"{what}: column {k!r} {got.label[k]!r}, want {want.label[k]!r}")
    elif got != want:
        raise AssertionError(f"{what}: {got!r}, want {want!r}")


def _ap_records(body: bytes, ct: str, keys: tuple[str, ...], role: autopilot.Role) -> smp.RecordBatch:
    """The per-record reader of `ct` alone (what the column routes stand in front of)."""
    if ct.startswith("text/csv"):
        charset = _csv_text.charset_option("us-ascii" if ct == _AP_ASCII else "utf-8")
        return autopilot._csv_records(body, _csv_text.body_start(body), keys, role, charset)
    start = json_layout.skip_bom(body)
    reader = autopilot._json_records if ct == "application/json" else autopilot._jsonlines_records
    return reader(body, start, keys, role)


def run_autopilot(data: bytes) -> None:
    sel, body = _split(data)
    ct, role, keys = _ap_case(sel)
    source: Any = bytearray(body) if sel & 64 else body
    got = _ap_outcome(lambda: autopilot.decode_response(source, ct, keys, role=role))
    if not sel & 128:
        return
    want = _ap_outcome(lambda: _ap_records(body, ct, keys, role))
    _ap_same(got, want, "decode_response against the per-record reader")
    with _ap_pure():
        pure = _ap_outcome(lambda: autopilot.decode_response(source, ct, keys, role=role))
    _ap_same(pure, want, "decode_response (pure path) against the per-record reader")


def _ap_batch(role: str, keys: tuple[str, ...], classes: int) -> list[dict[str, Any]]:
    """A few records as `role` writes them for `keys`, with `classes` classes."""
    names = ["False.", "True.", "caf\u00e9", "a,b"][:classes]
    out = []
    for i, p in enumerate([0.75, 0.125, float("nan")][:classes]):
        probs = [0.5 / classes] * (classes - 1) + [1 - 0.5 / classes * (classes - 1)]
        rec: dict[str, Any] = {
            "predicted_label": float(i % classes) if role == "algorithm" else names[i % classes],
            "probability": p,
            "probabilities": probs,
            "labels": [float(j) for j in range(classes)] if role == "algorithm" else names,
        }
        out.append({k: rec[k] for k in keys})
    return out


def _ap_respell(body: bytes, how: int) -> bytes:
    """The same records as another writer might spell them."""
    if how == 0:
        return body.replace(b"\n", b"\r\n")
    if how == 1:
        return b"\xef\xbb\xbf" + body
    if how == 2:
        return body.replace(b", ", b",")
    return body.replace(b"'", b'"') if body[:1] == b"{" else body + b"\n"


def seeds_autopilot() -> list[bytes]:
    out: list[bytes] = []
    for ct in _AP_TYPES:
        for role in _AP_ROLES:
            for keys in _AP_KEYS:
                sel = _ap_selector(ct, role, keys)
                for classes in (2, 3):
                    records = _ap_batch(role, keys, classes)
                    for body in _try(
                        lambda: autopilot.encode_response(records, ct, keys, role=role)  # noqa: B023
                    ):
                        out.append(bytes([sel | 128]) + body)
                        out.append(bytes([sel | (64 if classes == 3 else 0)]) + _ap_respell(body, sel % 4))
    for i in range(_AP_CASES, 64):  # CSV bodies read as US-ASCII (the three-class one is not)
        _, role, keys = _ap_case(i)
        for classes in (2, 3):
            write = functools.partial(
                autopilot.encode_response, _ap_batch(role, keys, classes), "text/csv", keys, role=role
            )
            out += [bytes([i | 128]) + body for body in _try(write)]
    return out


# ======================================================================================
# One large input per target on its format's fast path (the time-per-byte reference)
# ======================================================================================
_FAST_ROWS = 8192


def _fast_batch() -> smp.RecordBatch:
    rng = np.random.default_rng(20)
    return smp.from_dense(rng.standard_normal((_FAST_ROWS, 16)).astype(np.float32))


def _fast_response() -> smp.RecordBatch:
    rng = np.random.default_rng(21)
    return smp.RecordBatch(
        label={
            "closest_cluster": rng.integers(0, 50, _FAST_ROWS).astype(np.float32),
            "distance_to_cluster": rng.random(_FAST_ROWS, np.float32),
        }
    )


def _fast_request(content_type: str, selector: int = 0) -> Callable[[], bytes]:
    return lambda: bytes([selector]) + smp.encode_request(_fast_batch(), content_type)


def _fast_recordio() -> bytes:
    return b"\x00" + recordio.write_records([bytes(range(256)) * 4] * 1024)


def _fast_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(22).standard_normal((_FAST_ROWS, 16)).astype(np.float32))
    return b"\x00" + buf.getvalue()


def _fast_autopilot() -> bytes:
    """A post-processing container's CSV of predicted_label,probability (the column route)."""
    rng = np.random.default_rng(23)
    p = rng.random(5 * _FAST_ROWS)
    batch = smp.RecordBatch(label={"predicted_label": np.where(p > 0.5, "True.", "False."), "probability": p})
    keys = _AP_KEYS[0]
    return bytes([_ap_selector("text/csv", "post-processing", keys)]) + autopilot.encode_response(
        batch, "text/csv", keys
    )


def _fast_algorithms() -> bytes:
    sel = _ALGO_CASES.index(("kmeans", "application/json"))
    return bytes([sel]) + algorithms.encode_response(_fast_response(), "application/json", "kmeans")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "recordio",
            "smp.recordio.iter_records (buffer, stream)",
            run_recordio,
            seeds_recordio,
            (0, 1, 2),
            _fast_recordio,
        ),
        Target(
            "recordio_protobuf",
            "recordio_protobuf.decode / iter_decode / decode_records",
            run_recordio_protobuf,
            seeds_recordio_protobuf,
            (0, 9, 22, 32, 97),
            _fast_request(rp.CONTENT_TYPE),
            lambda sel: False,  # every input is also read in batches of 1 to 4 records
        ),
        Target(
            "csv",
            "csv.decode / decode_response / iter_decode",
            run_csv,
            seeds_csv,
            (0, 1, 12, 32, 48, 64, 193),
            _fast_request("text/csv"),
            lambda sel: not sel & 64,
        ),
        Target(
            "json",
            "json.decode / decode_response",
            run_json,
            seeds_json,
            (0, 1, 8, 9),
            _fast_request("application/json"),
        ),
        Target(
            "jsonlines",
            "jsonlines.decode / decode_response / iter_decode",
            run_jsonlines,
            seeds_jsonlines,
            (0, 2, 21, 46),
            _fast_request("application/jsonlines"),
            lambda sel: not sel & 4,
        ),
        Target(
            "npy", "npy.decode / decode_response / decode_array", run_npy, seeds_npy, (0, 3, 4), _fast_npy
        ),
        Target(
            "libsvm",
            "libsvm.decode / iter_decode",
            run_libsvm,
            seeds_libsvm,
            (0, 1, 6, 48),
            _fast_request("text/libsvm"),
            lambda sel: not sel & 16,
        ),
        Target(
            "algorithms",
            "algorithms.decode_response (every algorithm and Accept type)",
            run_algorithms,
            seeds_algorithms,
            _algo_selectors(),
            _fast_algorithms,
        ),
        Target(
            "autopilot",
            "autopilot.decode_response (CSV / JSON / JSON Lines, 3 roles, 6 key sets; C and pure paths "
            "against the per-record reader)",
            run_autopilot,
            seeds_autopilot,
            (),
            _fast_autopilot,
            lambda sel: not sel & 128,  # the per-record reader too: its own pace
            selected=True,
        ),
        Target(
            "mime", "MediaType.parse / parse_accept / negotiate / get_codec", run_mime, seeds_mime, (0, 1, 3)
        ),
        Target(
            "serving",
            "serving.handle with an echoing predict",
            run_serving,
            seeds_serving,
            (0, 8, 9, 17, 34, 52),
            _fast_request("text/csv", 1),
        ),
    )
}
