"""`smp.autopilot.decode_response` column by column (issue #23): the text formats' fast
routes (`_csv_fast`, `_json_fast`, `_json_parsed`) against the per-record readers they
stand in front of (`_csv_records`, `_json_records`, `_jsonlines_records`, the oracle),
on both paths (the C converters, and their pure twins with the kernels switched off).

What is checked: results equal bit for bit (dtype, shape, kind, every value's bytes) and
errors equal in type, message, offset, record index and line, on bodies the containers
write and on mutated ones; exact values for each key and format, read by the fast route;
memory within 32 x the input + 8 MB at about 1 MB.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads import autopilot as ap
from sm_payloads._buffers import as_bytes
from sm_payloads.formats import _csv_text
from sm_payloads.formats import _json_layout as J
from sm_payloads.record import Ragged, RecordBatch

from .helpers import bound, peak

CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"
TEXT_TYPES = (CSV, JSON, JSONL)
ROLES = ("algorithm", "post-processing", "ensemble")
_CPARSE = _native.load("formats._cparse")
_CREC = _native.load("formats._cjsonrec")


@contextlib.contextmanager
def path(name: str) -> Iterator[None]:
    """Run the readers on one path: "c" (the C number reader and JSON record kernel, as
    loaded) or "pure" (both switched off: their twins)."""
    with pytest.MonkeyPatch.context() as m:
        if name == "pure":
            m.setattr(ap, "_CNUM", None)
            m.setattr(ap, "_CREC", None)
            m.setattr(J, "_CREC", None)
        yield


PATHS = ["c", "pure"] if _CPARSE is not None and _CREC is not None else ["pure"]


# --------------------------------------------------------------------------------------
# Comparing outcomes
# --------------------------------------------------------------------------------------


def outcome(f: Callable[[], RecordBatch]) -> Any:
    try:
        return f()
    except smp.DecodeError as e:
        return ("DecodeError", e.content_type, e.reason, e.offset, e.record_index, e.line)
    except smp.UnsupportedMediaTypeError as e:
        return ("UnsupportedMediaTypeError", str(e))


def same_column(a: Any, b: Any, key: str) -> None:
    assert type(a) is type(b), (key, type(a), type(b))
    if isinstance(a, Ragged):
        assert a.values.dtype == b.values.dtype and a.values.tobytes() == b.values.tobytes(), key
        assert a.offsets.tolist() == b.offsets.tolist(), key
        assert (a.valid is None) == (b.valid is None), key
        if a.valid is not None:
            assert a.valid.tolist() == b.valid.tolist(), key
        return
    assert a.dtype == b.dtype and a.shape == b.shape, (key, a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype == object:
        assert a.tolist() == b.tolist(), key
        assert all(type(x) is type(y) for x, y in zip(a.tolist(), b.tolist(), strict=True)), key
    else:
        assert a.tobytes() == b.tobytes(), (key, a, b)


def same(a: Any, b: Any) -> None:
    if isinstance(a, RecordBatch) or isinstance(b, RecordBatch):
        assert isinstance(a, RecordBatch) and isinstance(b, RecordBatch), (a, b)
        assert len(a) == len(b) and not a.features and not b.features
        assert list(a.label) == list(b.label)
        for k in a.label:
            same_column(a.label[k], b.label[k], k)
    else:
        assert a == b


def oracle(body: bytes, ct: str, keys: tuple[str, ...], role: ap.Role, charset: str = "utf-8") -> Any:
    """The per-record reader alone (what decode_response did before the column routes)."""

    def run() -> RecordBatch:
        raw = as_bytes(body, text=True)
        if ct == CSV:
            return ap._csv_records(
                raw, _csv_text.body_start(raw), keys, role, _csv_text.charset_option(charset)
            )
        if ct == JSON:
            return ap._json_records(raw, J.skip_bom(raw), keys, role)
        return ap._jsonlines_records(raw, J.skip_bom(raw), keys, role)

    return outcome(run)


def check(body: bytes, ct: str, keys: tuple[str, ...], role: ap.Role, charset: str = "utf-8") -> Any:
    """decode_response on each path equals the oracle; returns the oracle's outcome."""
    want = oracle(body, ct, keys, role, charset)
    media = f"{ct}; charset={charset}" if ct == CSV else ct
    for p in PATHS:
        with path(p):
            got = outcome(lambda: ap.decode_response(body, media, keys, role=role))
        same(got, want)
    return want


def fast(body: bytes, ct: str, keys: tuple[str, ...], role: ap.Role) -> RecordBatch | None:
    """What the column routes give for `body` (None: they decline)."""
    raw = as_bytes(body, text=True)
    if ct == CSV:
        return ap._csv_fast(raw, _csv_text.body_start(raw), keys, role, "utf-8")
    lines = ct == JSONL
    start = J.skip_bom(raw)
    got = ap._json_fast(raw, start, lines, keys, role)
    return got if got is not None else ap._json_parsed(raw, start, lines, keys, role)


# --------------------------------------------------------------------------------------
# Bodies: as the containers write them, respelled, and mutated
# --------------------------------------------------------------------------------------

LABEL_TEXT = st.sampled_from(
    [
        "True.",
        "False.",
        "cat",
        "a b",
        "nan",
        "NaN",
        "",
        " x ",
        "1",
        "2.5",
        "é",
        "a,b",
        'q"q',
        "[",
        "x\ny",
        "-0",
    ]
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1.0, 0.5, 1e-310, 2.0**60]
)
KEY_SETS = st.lists(st.sampled_from(ap.KEYS), min_size=1, max_size=4, unique=True).map(tuple)


@st.composite
def records(draw: st.DrawFn, keys: tuple[str, ...], role: ap.Role) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 6))
    width = draw(st.integers(0, 4))
    ragged = draw(st.booleans())
    classes = draw(st.lists(LABEL_TEXT, min_size=width, max_size=width))
    out = []
    for _ in range(n):
        rec: dict[str, Any] = {}
        k = draw(st.integers(0, 4)) if ragged else width
        for key in keys:
            if key == "predicted_label":
                if role == "algorithm":
                    rec[key] = draw(st.sampled_from([0.0, 1.0, 2.0, 7.0]) | FLOATS)
                else:
                    rec[key] = draw(LABEL_TEXT)
            elif key == "probability":
                rec[key] = draw(FLOATS)
            elif key == "labels" and role != "algorithm":
                rec[key] = list(classes) if not ragged else draw(st.lists(LABEL_TEXT, max_size=3))
            elif key == "labels":
                rec[key] = [float(i) for i in range(k)]
            else:
                rec[key] = draw(st.lists(FLOATS, min_size=k, max_size=k))
        out.append(rec)
    return out


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str, tuple[str, ...], ap.Role]:
    role: ap.Role = draw(st.sampled_from(ROLES))
    keys = draw(KEY_SETS)
    ct = draw(st.sampled_from(TEXT_TYPES))
    recs = draw(records(keys, role))
    writer_role: ap.Role = draw(st.sampled_from([role, *ROLES])) if role != "algorithm" else role
    try:
        body = ap.encode_response(recs, ct, keys, role=writer_role, sagemaker_batch=draw(st.booleans()))
    except smp.EncodeError:
        body = b""
    return body, ct, keys, role


def respell(body: bytes, draw: st.DrawFn) -> bytes:
    """The same records in a spelling another writer might use."""
    choice = draw(
        st.sampled_from(["same", "bom", "spaces", "nospaces", "crlf", "newline", "blank", "quotes"])
    )
    if choice == "bom":
        return b"\xef\xbb\xbf" + body
    if choice == "spaces":
        return body.replace(b", ", b" ,  ")
    if choice == "nospaces":
        return body.replace(b", ", b",")
    if choice == "crlf":
        return body.replace(b"\n", b"\r\n")
    if choice == "newline":
        return body if body.endswith(b"\n") else body + b"\n"
    if choice == "blank":
        return body.replace(b"\n", b"\n\n", 1)
    if choice == "quotes":
        return (
            body.replace(b"'", b'"') if body[:1] == b"{" else body.replace(b'"[', b"[").replace(b']"', b"]")
        )
    return body


MUTATIONS = [
    b"",
    b"\n",
    b",",
    b'"',
    b"[",
    b"]",
    b" ",
    b"\t",
    b"nan",
    b"x",
    b"1",
    b"-",
    b"e",
    b"\r",
    b"{",
    b"}",
    b"\xff",
]


def mutate(body: bytes, draw: st.DrawFn) -> bytes:
    if not body:
        return draw(st.sampled_from(MUTATIONS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        cut = draw(st.integers(0, 2))
        body = body[:at] + draw(st.sampled_from(MUTATIONS)) + body[at + cut :]
    return body


# --------------------------------------------------------------------------------------
# Differential: the column routes equal the per-record reader
# --------------------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies(), data=st.data())
def test_written_bodies_read_as_the_per_record_reader_reads_them(
    case: tuple[bytes, str, tuple[str, ...], ap.Role], data: st.DataObject
) -> None:
    body, ct, keys, role = case
    body = respell(body, data.draw)
    check(body, ct, keys, role)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies(), data=st.data())
def test_mutated_bodies_read_or_fail_as_the_per_record_reader_does(
    case: tuple[bytes, str, tuple[str, ...], ap.Role], data: st.DataObject
) -> None:
    body, ct, keys, role = case
    check(mutate(body, data.draw), ct, keys, role)


@given(
    fields=st.lists(
        st.lists(st.text(alphabet=" 0123456789.+-eE[],\"'nax\n\t\r", max_size=12), min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    ),
    keys=KEY_SETS,
    role=st.sampled_from(ROLES),
)
@example(fields=[["[1, 2]"], ["[3]"]], keys=("probabilities",), role="algorithm")
@example(fields=[["[]"], ["[ ]"]], keys=("probabilities",), role="algorithm")
@example(fields=[["[- 1]"]], keys=("probabilities",), role="algorithm")
@example(fields=[["[1 ,2]"]], keys=("probabilities",), role="algorithm")
@example(fields=[["[1e 5]"]], keys=("probabilities",), role="algorithm")
@example(fields=[["[1,,2]"]], keys=("probabilities",), role="algorithm")
@example(fields=[["[[1]]"]], keys=("probabilities",), role="algorithm")
def test_csv_fields_of_number_bytes_read_as_the_per_record_reader_reads_them(
    fields: list[list[str]], keys: tuple[str, ...], role: ap.Role
) -> None:
    body = "\n".join(",".join(f for f in row) for row in fields).encode("utf-8")
    check(body, CSV, keys, role)
    quoted = "\n".join(",".join(f'"{f}"' for f in row) for row in fields).encode("utf-8")
    check(quoted, CSV, keys, role)


@given(
    values=st.lists(
        st.one_of(
            st.text(alphabet=" 0123456789.+-eE[],'\"nai\n", max_size=10),
            FLOATS,
            st.integers(-(2**70), 2**70),
            st.booleans(),
            st.none(),
            st.lists(FLOATS | st.integers(-5, 5) | st.text(max_size=3), max_size=3),
        ),
        min_size=1,
        max_size=5,
    ),
    key=st.sampled_from(ap.KEYS),
    role=st.sampled_from(ROLES),
)
def test_json_values_of_any_type_read_as_the_per_record_reader_reads_them(
    values: list[Any], key: str, role: ap.Role
) -> None:
    import json

    recs = [{key: v} for v in values]
    body = json.dumps({"predictions": recs}).encode("utf-8")
    check(body, JSON, (key,), role)
    check(b"".join(json.dumps(r).encode("utf-8") + b"\n" for r in recs), JSONL, (key,), role)


@pytest.mark.parametrize(
    "body",
    [
        b'{"scores": [{"probability": 0.5}]}',
        b'[{"probability": 0.5}]',
        b'{"predictions": [{"probability": 0.5}], "predictions": [{"probability": 0.25}]}',
        b'{"predictions": [{"probability": 0.5, "probability": 0.25}]}',
        b'{"predictions": [{"probability": NaN}]}',
        b'{"predictions": [{"probability": 1e400}]}',
        b'{"predictions": [{"probability": 1' + b"0" * 400 + b"}]}",
        b'{"predictions": [{"probability": true}]}',
        b'{"predictions": [{"probability": 0.5}, {"probabilities": [0.5]}]}',
        b'{"predictions": [{"probability": 0.5, "labels": ["a"]}]}',
        b'{"predictions": []}',
        b"  ",
        b'{"predictions": [{"probability": "0.5"}, {"probability": " nan "}]}',
        b'{"predictions": [{"probability": "0.5\\n"}]}',
    ],
)
def test_json_envelopes_and_odd_values_read_as_the_per_record_reader_reads_them(body: bytes) -> None:
    check(body, JSON, ("probability",), "post-processing")
    inner = body.strip()
    if inner.startswith(b'{"predictions": [{'):
        lines = inner[len(b'{"predictions": [') : -2].replace(b"}, {", b"}\n{")
        check(lines, JSONL, ("probability",), "post-processing")


@pytest.mark.parametrize(
    "body",
    [
        b'1,"[0.1, 0.9]"',  # the algorithm's quoted lists
        b"1,[0.1, 0.9]",  # its bare lists (plain Batch Transform answers): regrouped
        b'1,"[0.1, 0.9]"\r\n0,"[1, 0]"',
        b'1,"[0.1, 0.9]"\n\n0,"[1, 0]"\n',
        b'1, "[0.1, 0.9]"',  # a quote that does not open its field
        b'1,"[0.1, 0.9]" ',  # nor close it
        b'1,"[0.1,\n 0.9]"',  # a line end inside quotes
        b'1,"[0.1, ""0.9]"',
        b'1,"[0.1, 0.9]\n',
        b'"1","[0.1, 0.9]"',
        b"1,[0.1, 0.9],2",
        b"1\n0,[1, 0]",
        b"nan,nan\n,\n1,[]",
        b"\xef\xbb\xbf1,[0.5]\n",
        b"\xff\xfe1,[0.5]\n",
    ],
)
def test_csv_shapes_at_the_edge_of_the_fast_route(body: bytes) -> None:
    check(body, CSV, ("predicted_label", "probabilities"), "algorithm")
    check(body, CSV, ("predicted_label", "probabilities"), "post-processing")


@pytest.mark.parametrize("charset", ["utf-8", "us-ascii", "UTF8"])
def test_csv_charsets_as_the_per_record_reader(charset: str) -> None:
    for body in (b"caf\xc3\xa9,0.5\n", b"cat,0.5\n", b"caf\xe9,0.5\n"):
        check(body, CSV, ("predicted_label", "probability"), "post-processing", charset=charset)


def test_an_unsupported_charset_is_refused_before_reading() -> None:
    for p in PATHS:
        with (
            path(p),
            pytest.raises(smp.UnsupportedMediaTypeError, match="charset 'latin-1' is not supported"),
        ):
            ap.decode_response(b"cat,0.5\n", "text/csv; charset=latin-1", "predicted_label,probability")


# --------------------------------------------------------------------------------------
# Exact values, read by the column routes
# --------------------------------------------------------------------------------------

PP_ALL = ("predicted_label", "probability", "probabilities", "labels")


def both_paths(body: bytes, ct: str, keys: tuple[str, ...], role: ap.Role) -> list[RecordBatch]:
    """The batch of each path, after checking that the column routes read the body."""
    out = []
    for p in PATHS:
        with path(p):
            assert fast(body, ct, keys, role) is not None, (p, body[:80])
            out.append(ap.decode_response(body, ct, keys, role=role))
    return out


@pytest.mark.parametrize("ct", TEXT_TYPES)
def test_post_processing_values_are_exact(ct: str) -> None:
    body = {
        CSV: b'True.,0.8234567046165466,"[0.17654329538345337, 0.8234567046165466]",'
        b"\"['False.', 'True.']\"\n"
        b"False.,0.75,\"[0.75, 0.25]\",\"['False.', 'True.']\"\n",
        JSON: b'{"predictions": [{"predicted_label": "True.", "probability": "0.8234567046165466", '
        b'"probabilities": "[0.17654329538345337, 0.8234567046165466]", '
        b"\"labels\": \"['False.', 'True.']\"}, "
        b'{"predicted_label": "False.", "probability": "0.75", "probabilities": "[0.75, 0.25]", '
        b"\"labels\": \"['False.', 'True.']\"}]}",
        JSONL: b'{"predicted_label": "True.", "probability": "0.8234567046165466", '
        b'"probabilities": "[0.17654329538345337, 0.8234567046165466]", '
        b"\"labels\": \"['False.', 'True.']\"}\n"
        b'{"labels": "[\'False.\', \'True.\']", "predicted_label": "False.", "probability": "0.75", '
        b'"probabilities": "[0.75, 0.25]"}\n',
    }[ct]
    for b in both_paths(body, ct, PP_ALL, "post-processing"):
        assert list(b.label) == list(PP_ALL) and len(b) == 2
        assert b.label["predicted_label"].dtype == np.dtype("<U6")
        assert b.label["predicted_label"].tolist() == ["True.", "False."]
        assert b.label["probability"].dtype == np.float64
        assert b.label["probability"].tolist() == [0.8234567046165466, 0.75]
        assert b.label["probabilities"].shape == (2, 2)
        assert b.label["probabilities"].tolist() == [[0.17654329538345337, 0.8234567046165466], [0.75, 0.25]]
        assert b.label["labels"].dtype == object
        assert b.label["labels"].tolist() == [["False.", "True."], ["False.", "True."]]
        assert b.label["labels"][0] is not b.label["labels"][1]  # a list per record


@pytest.mark.parametrize("ct", TEXT_TYPES)
def test_algorithm_values_are_exact(ct: str) -> None:
    body = {
        CSV: b'1,"[0.1, 0.2, 0.7]"\n0,"[0.5, 0.25, 0.25]"\n2,"[1e-3, 0, 0.999]"',
        JSON: b'{"predictions": [{"predicted_label": 1, "probabilities": [0.1, 0.2, 0.7]}, '
        b'{"predicted_label": 0, "probabilities": [0.5, 0.25, 0.25]}, '
        b'{"predicted_label": 2.0, "probabilities": [1e-3, 0, 0.999]}]}',
        JSONL: b'{"predicted_label": 1, "probabilities": [0.1, 0.2, 0.7]}\n'
        b'{"predicted_label": 0, "probabilities": [0.5, 0.25, 0.25]}\n'
        b'{"predicted_label": 2.0, "probabilities": [1e-3, 0, 0.999]}\n',
    }[ct]
    keys = ("predicted_label", "probabilities")
    for b in both_paths(body, ct, keys, "algorithm"):
        assert b.label["predicted_label"].dtype == np.float64
        assert b.label["predicted_label"].tolist() == [1.0, 0.0, 2.0]
        assert b.label["probabilities"].dtype == np.float64
        assert b.label["probabilities"].tolist() == [[0.1, 0.2, 0.7], [0.5, 0.25, 0.25], [0.001, 0.0, 0.999]]


@pytest.mark.parametrize("ct", [JSON, JSONL])
def test_ensemble_typed_values_are_exact(ct: str) -> None:
    recs = [
        {
            "predicted_label": "b",
            "probability": 0.5,
            "probabilities": [0.25, 0.5, 0.25],
            "labels": ["a", "b", "c"],
        },
        {"predicted_label": "a", "probability": 1, "probabilities": [1, 0, 0], "labels": ["a", "b", "c"]},
    ]
    body = ap.encode_response(recs, ct, PP_ALL, role="ensemble")
    for b in both_paths(body, ct, PP_ALL, "ensemble"):
        assert b.label["predicted_label"].tolist() == ["b", "a"]
        assert b.label["probability"].tolist() == [0.5, 1.0]
        assert b.label["probabilities"].tolist() == [[0.25, 0.5, 0.25], [1.0, 0.0, 0.0]]
        assert b.label["labels"].tolist() == [["a", "b", "c"], ["a", "b", "c"]]


def test_unsupported_keys_and_spellings_are_exact() -> None:
    # nan / NaN / empty for a key the container does not support; spaces; ints; both quotes
    body = b'nan,NaN,,"[\'a\', ""b""]"\ncat,0.25,[ 1 , 2.5 ],"[""a"", \'b\']"\n'
    keys = PP_ALL
    b = ap.decode_response(body, CSV, keys)
    assert b.label["predicted_label"].tolist() == ["nan", "cat"]
    p = b.label["probability"]
    assert math.isnan(p[0]) and p[1] == 0.25
    r = b.label["probabilities"]
    assert isinstance(r, Ragged) and r[0] is None and r[1].tolist() == [1.0, 2.5]
    assert b.label["labels"].tolist() == [["a", "b"], ["a", "b"]]
    same(b, oracle(body, CSV, keys, "post-processing"))


def test_missing_values_are_read_on_the_fast_route() -> None:
    # a key the container cannot fill: nan, NaN or an empty field, in some records or all
    body = b'1,nan,"[0.5, 0.5]"\n0,0.25,nan\n1,,\n0,NaN,"[1, 0]"\n'
    keys = ("predicted_label", "probability", "probabilities")
    for b in both_paths(body, CSV, keys, "algorithm"):
        p = b.label["probability"]
        assert p.dtype == np.float64 and p.shape == (4,)
        assert np.isnan(p[[0, 2, 3]]).all() and p[1] == 0.25
        assert p.tobytes()[:8] == np.float64(math.nan).tobytes()  # the quiet NaN the writer reads back
        r = b.label["probabilities"]
        assert isinstance(r, Ragged)
        assert [None if x is None else x.tolist() for x in r] == [[0.5, 0.5], None, None, [1.0, 0.0]]
        assert r.offsets.tolist() == [0, 2, 2, 2, 4]
    body = b"cat,nan,nan\ndog,nan,nan\n"
    keys = ("predicted_label", "probability", "probabilities")
    for b in both_paths(body, CSV, keys, "post-processing"):
        assert b.label["predicted_label"].tolist() == ["cat", "dog"]
        assert np.isnan(b.label["probability"]).all()
        r = b.label["probabilities"]
        assert isinstance(r, Ragged) and r.values.size == 0 and r.valid is not None and not r.valid.any()


def test_crlf_line_ends_are_read_on_the_fast_route() -> None:
    body = b"True.,0.75,\"['False.', 'True.']\"\r\nFalse.,0.5,\"['False.', 'True.']\"\r\n"
    keys = ("predicted_label", "probability", "labels")
    for b in both_paths(body, CSV, keys, "post-processing"):
        assert b.label["predicted_label"].tolist() == ["True.", "False."]
        assert b.label["probability"].tolist() == [0.75, 0.5]
        assert b.label["labels"].tolist() == [["False.", "True."], ["False.", "True."]]
    # a "\r" that ends no line is a field's byte: the per-record reader decides
    assert fast(b"a\rb,0.5\r\n", CSV, ("predicted_label", "probability"), "post-processing") is None
    check(b"a\rb,0.5\r\n", CSV, ("predicted_label", "probability"), "post-processing")


def test_lists_of_several_lengths_are_ragged_on_the_fast_route() -> None:
    body = b'0,"[0.5, 0.5]"\n1,"[0.25, 0.25, 0.5]"\n'
    keys = ("predicted_label", "probabilities")
    for b in both_paths(body, CSV, keys, "algorithm"):
        r = b.label["probabilities"]
        assert isinstance(r, Ragged)
        assert r.values.tolist() == [0.5, 0.5, 0.25, 0.25, 0.5] and r.offsets.tolist() == [0, 2, 5]


def test_errors_keep_their_positions() -> None:
    body = b"True.,0.5\nFalse.,0.25\ncat,zero\n"
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(body, CSV, "predicted_label,probability")
    assert (e.value.offset, e.value.record_index, e.value.line) == (26, 2, 3)
    assert e.value.reason == "column 2 (probability): 'zero' is not a number"
    body = b'{"predictions": [{"probability": 0.5}, {"probability": [0.5]}]}'
    with pytest.raises(smp.DecodeError) as e:
        ap.decode_response(body, JSON, "probability")
    assert (e.value.offset, e.value.record_index) == (55, 1)
    assert e.value.reason == "$.predictions[1].probability: expected a number, found a list"


# --------------------------------------------------------------------------------------
# The kernels of the column routes against their twins
# --------------------------------------------------------------------------------------

needs_c = pytest.mark.skipif(_CPARSE is None or _CREC is None, reason="C kernels not built")

#: Bytes of CSV bodies at the edges of `_csv_split`'s shape: quotes, separators, line ends.
CSV_BYTES = st.lists(
    st.sampled_from([b"a", b"1", b",", b"\n", b'"', b"\r", b" ", b"\xc3\xa9"]), max_size=40
).map(b"".join)


@needs_c
@settings(max_examples=400)
@given(body=CSV_BYTES, width=st.integers(1, 4), lo=st.integers(0, 3))
@example(body=b'a,"b,c"\n"d",e\n', width=2, lo=0)
@example(body=b'a,""\n', width=2, lo=0)
@example(body=b"a,b\n\nc,d", width=2, lo=0)
@example(body=b'"a\nb",c', width=2, lo=0)
@example(body=b'a,b"c', width=2, lo=0)
@example(body=b"a,\n,b", width=2, lo=0)
def test_csv_columns_is_csv_split(body: bytes, width: int, lo: int) -> None:
    lo = min(lo, len(body))
    assert _CPARSE.csv_columns(body, lo, width) == ap._csv_split(body, lo, width)


def test_csv_columns_exact() -> None:
    body, want = b'True.,"0.5"\nFalse.,0.25\n', (2, [b"True.\nFalse.", b"0.5\n0.25"])
    assert ap._csv_split(body, 0, 2) == want
    if _CPARSE is not None:
        assert _CPARSE.csv_columns(body, 0, 2) == want
        assert _CPARSE.csv_columns(b"a,b", 0, 10**9) is None
        with pytest.raises(ValueError, match="bad arguments"):
            _CPARSE.csv_columns(b"a,b", 4, 1)


NUMBER_LIST_BYTES = st.lists(
    st.sampled_from(
        [b"[", b"]", b",", b" ", b"\n", b"1", b"0.5", b"-", b"e", b"+", b".", b"\t", b"2e3", b"nan"]
    ),
    max_size=30,
).map(b"".join)


def _number_lists_twin(text: bytes, n: int) -> Any:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(ap, "_CNUM", None)
        got = ap._number_lists(text, n)
    return None if got is None else (got[0].tobytes(), got[1].tolist())


@needs_c
@settings(max_examples=400)
@given(text=NUMBER_LIST_BYTES, n=st.integers(1, 4))
@example(text=b"[1, 2]\n [3 ] ", n=2)
@example(text=b"[- 1]", n=1)
@example(text=b"[1 2]", n=1)
@example(text=b"[1,,2]", n=1)
@example(text=b"[]", n=1)
@example(text=b"[1]\n", n=2)
def test_number_lists_is_its_twin(text: bytes, n: int) -> None:
    got = _CPARSE.number_lists(text, n)
    got = None if got is None else (got[0], np.frombuffer(got[1], np.int64).tolist())
    assert got == _number_lists_twin(text, n)


def test_number_lists_exact() -> None:
    want = (np.array([0.1, 0.2, 3.0], np.float64).tobytes(), [2, 1])
    assert _number_lists_twin(b"[0.1, 0.2]\n[3]", 2) == want
    if _CPARSE is not None:
        v, c = _CPARSE.number_lists(b"[0.1, 0.2]\n[3]", 2)
        assert (v, np.frombuffer(c, np.int64).tolist()) == want
        assert _CPARSE.number_lists(b"[0.1, 0.2]\n[3]", 3) is None


@needs_c
@settings(max_examples=300)
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n")), min_size=1, max_size=6
    )
)
@example(lines=["True.", "False.", "", "h\u00e9\u20ac\U0001f600", "a\x00"])
def test_ucs4_lines_is_numpy(lines: list[str]) -> None:
    text = "\n".join(lines).encode()
    buf, width = _CREC.ucs4_lines(text, len(lines))
    got = np.frombuffer(buf, dtype=f"<U{width}")
    want = np.array(lines, dtype=str)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_ucs4_lines_declines() -> None:
    if _CREC is None:
        pytest.skip("C kernels not built")
    assert _CREC.ucs4_lines(b"\xed\xa0\x80", 1) is None  # a surrogate in UTF-8
    assert _CREC.ucs4_lines(b"\xc0\x80", 1) is None  # overlong
    assert _CREC.ucs4_lines(b"a\nb", 3) is None
    assert _CREC.ucs4_lines(b"ab", 1) == (bytearray(b"a\0\0\0b\0\0\0"), 2)


@needs_c
@settings(max_examples=300)
@given(
    values=st.lists(st.text(st.characters(blacklist_categories=["Cs"])), min_size=1, max_size=6),
    lines=st.booleans(),
)
@example(values=["x\n", "y"], lines=False)
@example(values=["\u00e9", "\\", '"'], lines=True)
def test_json_records_texts_join_what_the_list_holds(values: list[str], lines: bool) -> None:
    recs = [{"predicted_label": v, "probability": 0.5} for v in values]
    body = b"\n".join(map(orjson.dumps, recs)) if lines else orjson.dumps({"predictions": recs})
    plain = _CREC.json_records(body, 0, len(body), lines)
    texts = _CREC.json_records(body, 0, len(body), lines, False, True)
    assert plain[1][0][2] == values
    want = values if any("\n" in v for v in values) else "\n".join(values).encode()
    assert texts == (plain[0], [("predicted_label", "s", want, 0, None), plain[1][1]])


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


def _megabyte(ct: str, role: ap.Role, keys: tuple[str, ...]) -> bytes:
    rng = np.random.default_rng(7)
    recs = []
    for i in range(400):
        p = float(rng.random())
        rec: dict[str, Any] = {
            "predicted_label": float(i % 3) if role == "algorithm" else ["False.", "True."][i % 2],
            "probability": p,
            "probabilities": [p / 2, p / 2, 1 - p],
            "labels": [0.0, 1.0, 2.0] if role == "algorithm" else ["a", "b", "c"],
        }
        recs.append({k: rec[k] for k in keys})
    one = ap.encode_response(recs, ct, keys, role=role, sagemaker_batch=True)
    reps = max(1, 1_000_000 // len(one))
    if ct == JSON:
        inner = one[len(b'{"predictions": [') : -2]
        return b'{"predictions": [' + b", ".join([inner] * reps) + b"]}"
    return one * reps


@pytest.mark.parametrize("ct", TEXT_TYPES)
@pytest.mark.parametrize(
    ("role", "keys"),
    [
        ("post-processing", ("predicted_label", "probability")),
        ("post-processing", PP_ALL),
        ("algorithm", ("predicted_label", "probabilities")),
        ("ensemble", PP_ALL),
    ],
)
@pytest.mark.parametrize("p", PATHS)
def test_memory_stays_within_32x_the_body(ct: str, role: ap.Role, keys: tuple[str, ...], p: str) -> None:
    body = _megabyte(ct, role, keys)
    with path(p):
        assert fast(body, ct, keys, role) is not None
        used = peak(lambda: ap.decode_response(body, ct, keys, role=role))
    assert used <= bound(body), f"{used / len(body):.1f} x the body"


# --------------------------------------------------------------------------------------
# Review of the column routes (adversarial inputs)
# --------------------------------------------------------------------------------------


class _CountedRecord:
    """A tokenized CSV record for `ap._regroup` that counts the field reads it costs: each
    read of `fields`, `quoted` or `offsets` item, and a whole row of items for each read of
    `quoted` or `offsets` (a record without quotes works those lists out on every access)."""

    def __init__(self, fields: list[bytes]) -> None:
        self.reads = 0
        rec = self

        class Counted(list):  # type: ignore[type-arg]
            def __getitem__(self, i: Any) -> Any:
                rec.reads += 1
                return super().__getitem__(i)

        self.fields = Counted(fields)
        self._quoted = [False] * len(fields)
        self._offsets = [2 * i for i in range(len(fields))]
        self._counted = Counted

    @property
    def quoted(self) -> list[bool]:
        self.reads += len(self._quoted)
        return self._counted(self._quoted)  # type: ignore[no-any-return]

    @property
    def offsets(self) -> list[int]:
        self.reads += len(self._offsets)
        return self._counted(self._offsets)  # type: ignore[no-any-return]


def test_regroup_reads_each_field_a_bounded_number_of_times() -> None:
    """A CSV row of 2,000 unquoted fields that open a list (``[``) and none that closes one:
    `_regroup` looked for the closing field from every opener (and worked out the record's
    `quoted` and `offsets` lists again for every field), 2,000 x 2,000 reads; a 7.5 kB row
    took 1.3 s (the fuzz target's superlinear finding). Now a bounded number per field, and
    the same fields, offsets and error."""
    n = 2000
    rec = _CountedRecord([b"["] * n + [b"x"])
    fields, offsets = ap._regroup(rec, 2)
    assert list(fields) == [b"["] * n + [b"x"]
    assert list(offsets) == [2 * i for i in range(n + 1)]
    assert rec.reads <= 8 * (n + 1), rec.reads
    # an opener is joined through the first field that closes a list; an opener after
    # the last such field is left as it is
    rec = _CountedRecord([b"[", b"[1", b" 2]", b"[", b"x"])
    assert ap._regroup(rec, 2) == ([b"[,[1, 2]", b"[", b"x"], [0, 6, 8])
    body = b"[," * n + b"x"
    for p in PATHS:
        with path(p), pytest.raises(smp.DecodeError) as e:
            ap.decode_response(body, CSV, ("labels", "probabilities"), role="ensemble")
        assert (e.value.reason, e.value.offset, e.value.record_index, e.value.line) == (
            f"row has {n + 1} fields for 2 keys (labels, probabilities)",
            4,
            0,
            1,
        )


@needs_c
def test_json_records_texts_keep_one_line_per_value_when_the_body_changes() -> None:
    """json_records(texts=True) joins a strings column's values with '\\n', so the joined
    bytes must hold one line per record. The scan checks the body's strings (no raw
    '\\n'), but the body may change after it: here a finalizer run by the first object
    the build makes (a collection at gc threshold 1) writes '\\n' into three values of the
    bytearray. The joined column had 4 lines for 2 records (b'x\\n\\np\\n'; decode_response
    then raised EncodeError, a column of 3 rows in a batch of 2). Now such a column comes
    back as its str list, one str per record, as where an escape stands for a '\\n'."""
    raw = bytearray(b'{"predictions": [{"a": "xy", "b": "uv"}, {"a": "pq", "b": "rs"}]}')
    spots = [raw.index(t) + 2 for t in (b'"xy', b'"uv', b'"pq')]

    class Breaks:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            for i in spots:
                raw[i] = 0x0A

    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1)
    try:
        Breaks()
        got = _CREC.json_records(raw, 0, len(raw), False, False, True)
    finally:
        gc.set_threshold(*old)
    assert bytes(raw) == b'{"predictions": [{"a": "x\n", "b": "u\n"}, {"a": "p\n", "b": "rs"}]}'
    assert got is not None and got[0] == 2
    values = [c[2].decode().split("\n") if isinstance(c[2], bytes) else c[2] for c in got[1]]
    assert [c[:2] for c in got[1]] == [("a", "s"), ("b", "s")]
    assert values[0] in (["xy", "pq"], ["x\n", "p\n"]) and values[1] in (["uv", "rs"], ["u\n", "rs"])
    assert values != [["xy", "pq"], ["uv", "rs"]]  # the change came after the scan
    # the same strings with escapes, read as they are
    body = b'{"predictions": [{"a": "x\\n", "b": "u\\n"}, {"a": "p\\n", "b": "rs"}]}'
    got = _CREC.json_records(body, 0, len(body), False, False, True)
    assert got is not None
    assert [c[:3] for c in got[1]] == [("a", "s", ["x\n", "p\n"]), ("b", "s", ["u\n", "rs"])]


def _regroup_reference(
    fields: list[bytes], quoted: list[bool], offsets: list[int], width: int
) -> tuple[list[bytes], list[int]]:
    """The regrouping rule read plainly (quadratic, for small rows): a row of `width`
    fields, or without an unquoted field that starts with ``[``, stays as it is; else each
    unquoted field that opens a list without closing it is joined with ',' through the
    first later field that ends with ``]``, unless a quoted field or the row's end comes
    first; a joined field is at its first field's offset."""
    opens = [not q and f.lstrip().startswith(b"[") for f, q in zip(fields, quoted, strict=True)]
    if len(fields) == width or not any(opens):
        return fields, offsets
    out, at, j = [], [], 0
    while j < len(fields):
        f = fields[j]
        if not quoted[j] and f.lstrip().startswith(b"[") and not f.rstrip().endswith(b"]"):
            close = next(
                (k for k in range(j + 1, len(fields)) if quoted[k] or fields[k].rstrip().endswith(b"]")), None
            )
            if close is not None and not quoted[close]:
                out.append(b",".join(fields[j : close + 1]))
                at.append(offsets[j])
                j = close + 1
                continue
        out.append(f)
        at.append(offsets[j])
        j += 1
    return out, at


#: Pieces of CSV fields that open, close or hold lists, quoted or not.
REGROUP_PIECES = st.sampled_from([b"[", b"]", b"1", b" ", b"x", b"[1", b"2]", b'"a"', b'"[1]"'])


@settings(max_examples=300)
@given(
    row=st.lists(st.lists(REGROUP_PIECES, max_size=3).map(b"".join), min_size=1, max_size=10).map(b",".join),
    width=st.integers(1, 4),
)
@example(row=b"[,[,[,x,]", width=2)
@example(row=b'[,"q",[1,2]', width=2)
def test_regroup_is_the_plain_rule(row: bytes, width: int) -> None:
    """`_regroup` (which skips the openers a failed search has passed) joins the fields the
    plain rule joins, at their first field's offset."""
    try:
        recs, _ = _csv_text.tokenize(row, 0, len(row), 1, 0, 0)
    except smp.DecodeError:
        return  # a quote inside an unquoted field: the tokenizer's error
    for rec in recs:
        want = _regroup_reference(rec.fields, rec.quoted, rec.offsets, width)
        assert tuple(map(list, ap._regroup(rec, width))) == tuple(map(list, want))


# --------------------------------------------------------------------------------------
# A label much wider than the others: an object array, not a fixed-width str array
# --------------------------------------------------------------------------------------


def _wide_bodies(long: str, short: str, n: int) -> dict[str, bytes]:
    recs = [(long, "0.5")] + [(short, "0.25")] * n
    objs = [{"predicted_label": a, "probability": b} for a, b in recs]
    return {
        CSV: "".join(f"{a},{b}\n" for a, b in recs).encode(),
        JSON: json.dumps({"predictions": objs}).encode(),
        JSONL: "".join(json.dumps(o) + "\n" for o in objs).encode(),
    }


@pytest.mark.parametrize("ct", TEXT_TYPES)
@pytest.mark.parametrize("long", ["x" * 3000, "\u00e9" * 3000])
def test_a_label_far_wider_than_the_others_makes_an_object_array(ct: str, long: str) -> None:
    # 1,001 labels, one of 3,000 characters: a <U3000 array would be 12 MB for a 9 kB body
    # (finding 13). 3,000 x 1,001 > 2 x (3,000 + 1,000 + 1,001) + 262,144: the rule of the
    # CSV reader's text columns.
    body = _wide_bodies(long, "a", 1000)[ct]
    for b in both_paths(body, ct, ("predicted_label", "probability"), "post-processing"):
        col = b.label["predicted_label"]
        assert col.dtype == object and col.shape == (1001,)
        assert col[0] == long and col[1] == "a" and col[1000] == "a"
        assert all(type(x) is str for x in col.tolist())
        assert b.label["probability"].tolist() == [0.5] + [0.25] * 1000
    same(oracle(body, ct, ("predicted_label", "probability"), "post-processing"), b)


@pytest.mark.parametrize("ct", TEXT_TYPES)
def test_labels_of_similar_widths_stay_a_str_array(ct: str) -> None:
    # 1,001 labels, one of 250 characters: 250 x 1,001 = 250,250, within 2 x (250 + 1,000 +
    # 1,001) + 262,144 = 266,646.
    body = _wide_bodies("y" * 250, "a", 1000)[ct]
    for b in both_paths(body, ct, ("predicted_label", "probability"), "post-processing"):
        col = b.label["predicted_label"]
        assert col.dtype == np.dtype("<U250")
        assert col[0] == "y" * 250 and col[1] == "a"


def test_a_one_megabyte_label_among_300000_reads_in_bounded_memory() -> None:
    # Finding 13's second body: a <U1000000 array of 300,001 labels is 1.2 TB (MemoryError).
    body = b"x" * 1_000_000 + b",0.5\n" + b"a,0.5\n" * 300_000
    for p in PATHS:
        with path(p):
            tracemalloc.start()
            try:
                b = ap.decode_response(body, CSV, ("predicted_label", "probability"), role="post-processing")
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        col = b.label["predicted_label"]
        assert col.dtype == object and len(col) == 300_001
        assert col[0] == "x" * 1_000_000 and col[300_000] == "a"
        assert peak < 32 * len(body) + 8_000_000
