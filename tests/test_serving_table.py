"""Every row of the serving table in docs/serving.md, answered by the handler.

Each row's exact answer (status, Content-Type, body) is pinned below by hand, not computed
by the handler: the demo model sums each record's features ([1, 2] and [3, 4] give 3.0 and
7.0), and error bodies are the handler's one-line messages.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import sm_payloads as smp

from .serving_cases import BODIES, CASES, PREDICT, Case, ours

DOC = Path(__file__).resolve().parents[1] / "docs" / "serving.md"
BEGIN, END = "<!-- serving-table:begin -->", "<!-- serving-table:end -->"

J, C, NPY, RIO = "application/json", "text/csv", "application/x-npy", "application/x-recordio-protobuf"
JSONL = "application/jsonlines"
TEXT = "text/plain; charset=utf-8"

# Every registered request type (aliases last), and every type the handler writes.
SUPPORTED = (
    "application/json, application/jsonlines, text/csv, application/x-recordio-protobuf, "
    "application/x-npy, text/libsvm, application/x-jsonlines, text/x-libsvm"
)
OFFERED = (
    "application/json, application/jsonlines, text/csv, application/x-recordio-protobuf, application/x-npy"
)

SCORES_JSON = b'{"predictions":[{"score":3.0},{"score":7.0}]}'
SCORES_JSONL = b'{"score":3.0}\n{"score":7.0}\n'
SCORES_CSV = b"3.0\n7.0\n"
# np.save(np.array([3.0, 7.0])): magic, version 1.0, header length 118 (0x76), the header
# dict padded with spaces to 128 bytes, then 3.0 and 7.0 as little-endian float64.
SCORES_NPY = (
    b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
    + b" " * 60
    + b"\n\x00\x00\x00\x00\x00\x00\x08@\x00\x00\x00\x00\x00\x00\x1c@"
)
# Two RecordIO frames (magic 0xced7230a, length 23, one byte of padding), each a Record
# whose label map holds "score" -> Value.float64_tensor (field 3) with one value.
SCORES_RIO = (
    b"\n#\xd7\xce\x17\x00\x00\x00\x12\x15\n\x05score\x12\x0c\x1a\n\n\x08\x00\x00\x00\x00\x00\x00\x08@\x00"
    b"\n#\xd7\xce\x17\x00\x00\x00\x12\x15\n\x05score\x12\x0c\x1a\n\n\x08\x00\x00\x00\x00\x00\x00\x1c@\x00"
)

NO_CONTENT_TYPE = b"the request has no Content-Type; send one of: " + SUPPORTED.encode() + b"\n"
MODEL_FAILED = b"the model failed to produce a prediction (see the container log)\n"
NPY_ERR = b"application/x-npy: "


def unsupported(content_type: str) -> bytes:
    return f"'{content_type}': unsupported media type; supported: {SUPPORTED}\n".encode()


def not_acceptable(accept: str) -> bytes:
    return f"Accept '{accept}': none of the acceptable types can be produced; supported: {OFFERED}\n".encode()


OK_JSON = (200, J, SCORES_JSON)
OK_CSV = (200, C, SCORES_CSV)

#: Row number (as in docs/serving.md) -> (status, Content-Type, body).
EXPECTED: dict[int, tuple[int, str, bytes]] = {
    1: OK_JSON,
    2: OK_JSON,  # {"instances": [{"features": ...}]}: the same two records
    3: OK_JSON,
    4: OK_JSON,
    5: OK_JSON,
    6: OK_JSON,
    7: OK_JSON,
    8: OK_JSON,  # libsvm "1 0:1 1:2": features [1, 2], label 1
    9: OK_JSON,
    10: OK_JSON,
    11: OK_JSON,
    12: OK_JSON,
    13: OK_JSON,
    14: OK_JSON,
    15: OK_JSON,
    16: OK_JSON,
    17: (200, J, b'{"predictions":[{"score":2.0},{"score":4.0}]}'),  # column 1 is the label
    18: (200, J, b'{"predictions":[{"score":3.0}]}'),  # "a,b" is the header; one record [1, 2]
    19: OK_JSON,
    20: (415, TEXT, NO_CONTENT_TYPE),
    21: (415, TEXT, NO_CONTENT_TYPE),
    22: (415, TEXT, b"'csv': malformed media type\n"),
    23: (415, TEXT, b"'text/': malformed media type\n"),
    24: (415, TEXT, b"'/json': malformed media type\n"),
    25: OK_JSON,  # empty parameters are allowed (RFC 9110: parameters = *( OWS ";" OWS [ parameter ] ))
    26: (415, TEXT, b"'text/csv; label_size=1; label_size=2': parameter 'label_size' given twice\n"),
    27: (415, TEXT, unsupported("image/png")),
    28: (415, TEXT, unsupported("application/octet-stream")),
    29: (415, TEXT, unsupported("multipart/form-data; boundary=x")),
    30: (
        400,
        TEXT,
        b"application/json: invalid JSON: unexpected character, expected a string key at line 1 (byte 1)\n",
    ),
    31: (400, TEXT, b"application/json: invalid UTF-8 (invalid start byte) at byte 0\n"),
    32: (400, TEXT, b"the request body is empty; send at least one record as application/json\n"),
    33: (500, TEXT, MODEL_FAILED),  # decodes as a ragged column; the demo model cannot sum it
    34: (400, TEXT, b"the request body is empty; send at least one record as text/csv\n"),
    35: (500, TEXT, MODEL_FAILED),  # "a,b" makes both columns text; the demo model cannot sum them
    36: (
        400,
        TEXT,
        b"text/csv: row has 1 fields, expected 2: column 2 is missing at line 2 (byte 5, record 1)\n",
    ),
    # b"\x93NUMPY garbage": the version bytes are " " (32) and "g" (103)
    37: (400, TEXT, NPY_ERR + b"unsupported format version 32.103 (1.0, 2.0 and 3.0 are read) at byte 6\n"),
    # byte 20 is the descr value '|O', after the 10-byte preamble and "{'descr': "
    38: (
        400,
        TEXT,
        NPY_ERR + b"object arrays are not supported (they need pickle, which is never used) at byte 20\n",
    ),
    39: (500, TEXT, MODEL_FAILED),  # and nothing of the exception ("secret") reaches the client
    40: OK_JSON,
    41: OK_CSV,
    42: OK_JSON,
    43: OK_JSON,
    44: OK_CSV,
    45: (200, NPY, SCORES_NPY),
    46: (200, "application/json; charset=utf-8", SCORES_JSON),
    47: OK_JSON,
    48: OK_JSON,
    49: OK_CSV,
    50: OK_JSON,
    51: OK_CSV,
    52: (406, TEXT, not_acceptable("application/json;q=0")),
    53: OK_CSV,
    54: OK_JSON,
    55: (200, "application/jsonlines; verbose=True", SCORES_JSONL),
    56: (200, JSONL, SCORES_JSONL),
    57: (406, TEXT, not_acceptable("image/png")),
    58: (
        406,
        TEXT,
        f"Accept 'text/csv;q=2': bad q value '2' in 'text/csv;q=2'; supported: {OFFERED}\n".encode(),
    ),
    59: (406, TEXT, not_acceptable("*/*;q=0")),
    60: OK_CSV,
    61: OK_JSON,
    62: OK_JSON,
    63: OK_JSON,
    64: (200, RIO, SCORES_RIO),
    65: (200, "text/csv; charset=utf-8", SCORES_CSV),
    66: (200, JSONL, SCORES_JSONL),
    67: (406, TEXT, not_acceptable("image/png")),
}


def _show(value: str | None) -> str:
    if value is None:
        return "*(missing)*"
    return f"`{value}`" if value.strip() else "*(empty)*"


def _clip(text: str, n: int = 110) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def render() -> str:
    lines = [
        "| # | Content-Type | Accept | body | inference-toolkit | sm_payloads |",
        "|--:|---|---|---|---|---|",
    ]
    for i, c in enumerate(CASES, 1):
        env = "".join(f" ({k}={v})" for k, v in c.env.items())
        body = c.body + (" (predict raises)" if c.predict == "raise" else "")
        cells = [str(i), _show(c.content_type), _show(c.accept) + env, body, c.toolkit, _clip(ours(c)[1])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_at_least_forty_variants() -> None:
    assert len(CASES) >= 40


def test_every_row_has_a_pinned_answer() -> None:
    assert list(EXPECTED) == list(range(1, len(CASES) + 1))


@pytest.mark.parametrize(
    ("case", "expected"),
    [(c, EXPECTED[i]) for i, c in enumerate(CASES, 1)],
    ids=[f"{i}" for i in range(1, len(CASES) + 1)],
)
def test_every_row_answers_as_documented(case: Case, expected: tuple[int, str, bytes]) -> None:
    r = smp.serving.handle(
        BODIES[case.body], case.content_type, case.accept, PREDICT[case.predict], env=case.env
    )
    assert (r.status, r.content_type, r.body) == expected


def test_binary_answers_are_what_numpy_and_the_sdk_write() -> None:
    """The hand-written npy and RecordIO bodies above, checked against independent writers."""
    out = io.BytesIO()
    np.save(out, np.array([3.0, 7.0], np.float64))
    assert out.getvalue() == SCORES_NPY
    from sagemaker.amazon import common, record_pb2  # the test oracle (a test dependency)

    out = io.BytesIO()
    for score in (3.0, 7.0):
        record = record_pb2.Record()
        record.label["score"].float64_tensor.values.append(score)
        common._write_recordio(out, record.SerializeToString())
    assert out.getvalue() == SCORES_RIO


def test_doc_table_is_current() -> None:
    doc = DOC.read_text()
    table = doc[doc.index(BEGIN) + len(BEGIN) : doc.index(END)].strip()
    assert table == render(), "run: python -m scripts.serving_table to refresh docs/serving.md"


def test_bodies_and_predicts_are_all_used() -> None:
    assert {c.body for c in CASES} == set(BODIES)
    assert {c.predict for c in CASES} == set(PREDICT)
