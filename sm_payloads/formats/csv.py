"""``text/csv``: one record per line, comma-separated fields (RFC 4180).

Requests: the first ``label_size`` fields of a row are the label (``label["values"]``), the
rest the features (``features["values"]``, shape ``(N, k)``). Responses: one row per record,
one field per output key in the order of ``batch.label`` (a vector output is one field
holding a bracketed list, ``"[0.4, 0.6]"``, as the Autopilot/XGBoost containers write it).

Rule 1 (writer): a numeric request is written exactly as the SageMaker SDK v2's
``CSVSerializer`` writes the same array: numpy's ``str()`` of every value (the shortest text
that reads back to the same value of its dtype; ``nan``, ``inf``, ``-inf``), ``,`` between
fields, ``\\n`` between rows and no final newline. Responses end every row with ``\\n``.
Text fields are quoted as ``csv.writer`` quotes them (only when they must be).
Rule 2 (reader): ``\\n`` or ``\\r\\n`` line ends, an optional final line end, RFC 4180 quoted
fields, blank lines skipped. A block of fields (label or features) is numeric when every
field in it is a number (an empty field is a missing value, NaN); otherwise it is text,
unless ``dtype`` says which. Numbers read as float64 (``dtype=`` to choose).
Rule 3 (exactness): numbers are read correctly rounded in the type asked for, always
(float32 rounded once from the text, never through a float64).
Rule 4 (fast path): the lines whose fields are all numbers (quoted or not; an empty field is
NaN) are read by `_textnum.parse_numeric_rows`; a line it cannot read goes alone to the
careful reader (`_careful_line`), which reads it if it is a record of numbers. Text or a
bad record anywhere sends the whole region to the careful reader, which reads it a piece of
records at a time (`_careful_spans`), each piece through the text reader
(`_csv_text.text_fields`: fields straight to ``str``, record after record) when that reader
answers, else (and only to position an error) tokenized into `Record` objects.
Rule 5 (errors): any problem is a `DecodeError` with the 1-based line, the byte offset from
the start of the input and the 0-based record index; the reason names the 1-based column.
The fast path never reports errors itself: the careful reader is the one place that
positions errors.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any, ClassVar

import numpy as np

from .. import _native
from .._buffers import as_bytes
from .._gcpause import paused
from ..codec import DEFAULT_BATCH_SIZE, Capabilities, Codec
from ..columns import column_kind, readonly
from ..errors import DecodeError, EncodeError, UnsupportedMediaTypeError
from ..record import Ragged, RecordBatch, trusted_batch
from . import _textnum
from ._csv_text import CHARSETS as CHARSETS
from ._csv_text import (
    CONTENT_TYPE,
    SHARED_ROWS,
    Record,
    TextCache,
    blank_run,
    body_start,
    charset_option,
    field_text,
    parse_header,
    quote_field,
    record_ends,
    text_cache,
    text_fields,
    text_rows,
    text_rows_from,
    tokenize,
)
from ._exact import to_float32
from ._rows import rows_or_batch

__all__ = [
    "CONTENT_TYPE",
    "CsvCodec",
    "decode",
    "decode_response",
    "encode",
    "encode_response",
    "iter_decode",
    "read_header",
]

_NUMERIC_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int32))
_STREAM_BLOCK = 1 << 20


# ======================================================================================
# Options
# ======================================================================================


def _dtype_option(dtype: Any) -> np.dtype[Any] | None:
    """None (numbers as float64, text blocks as text), a numeric dtype, or str (all text)."""
    if dtype is None:
        return None
    if dtype is str or dtype == "str":
        return np.dtype(str)
    dt = np.dtype(dtype)
    if dt.kind in "US":
        return np.dtype(str)
    if dt not in _NUMERIC_DTYPES:
        raise ValueError(f"dtype must be float64, float32, int32 or str, got {dt}")
    out: np.dtype[Any] = dt
    return out


def _label_size_option(label_size: int) -> int:
    if isinstance(label_size, bool) or not isinstance(label_size, (int, np.integer)) or label_size < 0:
        raise ValueError(f"label_size must be a non-negative integer, got {label_size!r}")
    return int(label_size)


# ======================================================================================
# Writing
# ======================================================================================


def _text_rows(rows: list[list[str]]) -> list[str]:
    return [",".join(quote_field(f, len(r) == 1) for f in r) for r in rows]


def _block(map_name: str, key: str, col: Any, n: int) -> np.ndarray | list[list[str]]:
    """A request column as a (N, k) numeric array or N lists of k strings."""
    name = f"{map_name}[{key!r}]"
    kind = column_kind(col)
    if kind == "dense":
        dense: np.ndarray = col
        if dense.ndim == 1:
            return dense.reshape(n, 1)
        if dense.ndim == 2:
            return dense
        raise EncodeError(
            CONTENT_TYPE,
            f"a CSV row is flat; records of shape {col.shape[1:]} cannot be written",
            column=name,
            status_hint=400,
        )
    if kind == "strings":
        rows: list[list[str]] = []
        for i, v in enumerate(col.tolist()):
            items = list(v) if isinstance(v, (list, tuple)) else [v]
            if any(x is None for x in items) or v is None:
                raise EncodeError(CONTENT_TYPE, f"record {i} has no value", column=name, status_hint=400)
            rows.append([x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in items])
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise EncodeError(
                CONTENT_TYPE,
                f"records have different numbers of strings: {sorted(widths)}",
                column=name,
                status_hint=400,
            )
        return rows
    raise EncodeError(
        CONTENT_TYPE,
        f"a {kind} column cannot be written as CSV (dense rows only); densify it first, "
        "for example with batch.to_numpy()",
        column=name,
        status_hint=400,
    )


def _width(block: np.ndarray | list[list[str]]) -> int:
    if isinstance(block, np.ndarray):
        return int(block.shape[1])
    return len(block[0]) if block else 0


def _lines(block: np.ndarray | list[list[str]]) -> list[bytes]:
    if isinstance(block, np.ndarray):
        return _textnum.format_rows(block).split(b"\n")
    return [r.encode("utf-8") for r in _text_rows(block)]


def _header_line(names: Sequence[str]) -> bytes:
    return ",".join(quote_field(str(nm), len(names) == 1) for nm in names).encode("utf-8")


def encode(
    batch: RecordBatch,
    *,
    label_size: int | None = None,
    header: bool = False,
    names: Sequence[str] | None = None,
) -> bytes:
    """Write a request: per record the label fields (if any), then the feature fields.

    Parameters
    ----------
    batch : RecordBatch
        ``features["values"]`` (dense ``(N,)``/``(N, k)`` or a strings column) and optionally
        ``label["values"]``. No other keys: CSV carries one matrix.
    label_size : int, optional
        When given, the label must have exactly this many fields per record (0: no label).
    header : bool
        Write a first line of column names: `names`, or ``label``/``label_0``... and
        ``f_0``, ``f_1``... by default.

    For numeric arrays the bytes equal the SageMaker SDK v2 ``CSVSerializer`` output for
    the same array. An empty batch is an empty body (the SDK refuses empty arrays).
    """
    for map_name, cols in (("features", batch.features), ("label", batch.label)):
        extra = [k for k in cols if k != "values"]
        if extra:
            raise EncodeError(
                CONTENT_TYPE,
                f"a CSV request carries {map_name}['values'] only; got {map_name} keys {list(cols)}",
                column=f"{map_name}[{extra[0]!r}]",
                status_hint=400,
            )
    n = len(batch)
    blocks: list[np.ndarray | list[list[str]]] = []
    label_width = 0
    if "values" in batch.label:
        lb = _block("label", "values", batch.label["values"], n)
        label_width = _width(lb)
        blocks.append(lb)
    if label_size is not None:
        label_size = _label_size_option(label_size)
        if label_width != label_size:
            raise EncodeError(
                CONTENT_TYPE,
                f"label_size={label_size} but the batch's label has {label_width} field(s) per record",
                column="label['values']",
                status_hint=400,
            )
    if "values" in batch.features:
        blocks.append(_block("features", "values", batch.features["values"], n))
    width = sum(_width(b) for b in blocks)
    head: list[bytes] = []
    if header:
        if names is None:
            lnames = ["label"] if label_width == 1 else [f"label_{j}" for j in range(label_width)]
            names = lnames + [f"f_{j}" for j in range(width - label_width)]
        if len(names) != width:
            raise EncodeError(CONTENT_TYPE, f"{len(names)} names for {width} columns", status_hint=400)
        head = [_header_line(names)]
    if n == 0:
        return b"\n".join(head)
    if width == 0:
        raise EncodeError(CONTENT_TYPE, "records have no fields to write", status_hint=400)
    if len(blocks) == 1 and isinstance(blocks[0], np.ndarray):
        body = _textnum.format_rows(blocks[0])
    elif len(blocks) == 1:
        body = b"\n".join(_lines(blocks[0]))
    else:
        parts = [_lines(b) for b in blocks if _width(b)]
        body = b"\n".join(b",".join(row) for row in zip(*parts, strict=True))
    return b"\n".join([*head, body])


def _list_field(values: list[str]) -> str:
    return '"[' + ", ".join(values) + ']"'


def _response_fields(key: str, col: Any, n: int) -> list[bytes]:
    """One CSV field (already quoted) per record for one output column."""
    name = f"label[{key!r}]"
    kind = column_kind(col)
    if kind == "dense":
        if col.ndim == 1:
            return _textnum.format_rows(col.reshape(n, 1)).split(b"\n")
        if col.ndim == 2:
            if col.shape[1] == 0:
                return [b'"[]"'] * n
            text = _textnum.format_rows(col).replace(b",", b", ")
            return [b'"[' + line + b']"' for line in text.split(b"\n")]
        raise EncodeError(
            CONTENT_TYPE,
            f"records of shape {col.shape[1:]} cannot be one CSV field",
            column=name,
            status_hint=500,
        )
    if kind == "ragged":
        out = []
        for row in col:
            if row is None:
                out.append(b"")
            else:
                out.append(_list_field(_textnum.format_values(row)).encode("ascii"))
        return out
    if kind == "strings":
        out = []
        for v in col.tolist():
            if v is None:
                out.append(b"")
            elif isinstance(v, (list, tuple)):
                items = [_text_of(x, name) for x in v]
                out.append(quote_field(repr(items), False).encode("utf-8"))
            else:
                out.append(quote_field(_text_of(v, name), False).encode("utf-8"))
        return out
    raise EncodeError(CONTENT_TYPE, "a sparse output cannot be written as CSV", column=name, status_hint=500)


def _text_of(v: Any, name: str) -> str:
    """A string output's text; bytes must be UTF-8 (CSV is text)."""
    if not isinstance(v, bytes):
        return str(v)
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EncodeError(
            CONTENT_TYPE, f"bytes that are not UTF-8 text ({e.reason} at byte {e.start})", column=name
        ) from None


#: The optional C kernel that joins CSV response rows (`join_lines`); None: its twin.
_CJOIN = _native.load("formats._cjsonrec")


def join_lines_pure(texts: list[bytes], n: int) -> bytes | None:
    """The twin of ``_cjsonrec.join_lines``: line i of every text (n lines each, no final
    newline) joined by ``,``, every row ending with ``\\n``; None when a text has another
    number of lines."""
    parts = [t.split(b"\n") for t in texts]
    if not texts or n < 1 or any(len(p) != n for p in parts):
        return None
    return b"\n".join(map(b",".join, zip(*parts, strict=True))) + b"\n"


def join_lines(texts: list[bytes], n: int) -> bytes | None:
    """CSV rows from one text per column (`join_lines_pure`; the C kernel when built)."""
    if _CJOIN is not None:
        out: bytes | None = _CJOIN.join_lines(texts, n)
        return out
    return join_lines_pure(texts, n)


def encode_response(
    batch: RecordBatch | Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str] | None = None,
    header: bool = False,
) -> bytes:
    """Write a response: one row per record, one field per output key (``batch.label``
    order, or `keys`), every row ending with ``\\n``.

    A scalar output is one number or text field; a vector output is one quoted field
    holding a bracketed list (``"[0.4, 0.6]"``); a list of strings is written as a Python
    list literal (``"['cat', 'dog']"``), as the Autopilot containers write them. The one
    unnamed output ``label["values"]`` of ``(N, k)`` numbers (what a model's array becomes)
    is k fields per row instead, as `decode_response` without keys reads it. `batch`
    may also be a list of per-record output dicts (one column per key, `smp.encode_response`).
    """
    if not isinstance(batch, RecordBatch):
        batch = rows_or_batch(batch, CONTENT_TYPE)
    names = list(batch.label) if keys is None else list(keys)
    missing = [k for k in names if k not in batch.label]
    if missing:
        raise EncodeError(
            CONTENT_TYPE,
            f"no output {missing[0]!r} in the batch's label",
            column=f"label[{missing[0]!r}]",
            status_hint=500,
        )
    n = len(batch)
    head = [_header_line(names) + b"\n"] if header else []
    if n == 0:
        return b"".join(head)
    if not names:
        raise EncodeError(CONTENT_TYPE, "the batch has no outputs (label is empty)", status_hint=500)
    cols = [batch.label[k] for k in names]
    if n == 1:
        row = _one_row(names, cols)
        if row is not None:
            return b"".join([*head, row, b"\n"])
    if (
        names == ["values"]
        and isinstance(cols[0], np.ndarray)
        and cols[0].ndim == 2
        and cols[0].dtype.kind in "fi"
    ):
        # The one unnamed output of k numbers (a model's (N, k) array): k fields per row, as
        # decode_response without keys reads such a body back.
        if cols[0].shape[1] == 0:
            raise EncodeError(
                CONTENT_TYPE,
                "the output 'values' has no values per record (a CSV row needs at least one field)",
                column="label['values']",
                status_hint=500,
            )
        return b"".join([*head, _textnum.format_rows(cols[0]), b"\n"])
    numbers = all(isinstance(c, np.ndarray) and c.ndim == 1 and c.dtype.kind in "fi" for c in cols)
    if numbers and len({c.dtype for c in cols}) == 1:
        body = _textnum.format_rows(np.column_stack(cols))
    else:
        if numbers:
            # numbers of several dtypes: each column's text at once, then the rows in one pass
            rows = join_lines([_textnum.format_rows(c.reshape(n, 1)) for c in cols], n)
            if rows is not None:
                return b"".join([*head, rows])
        fields = [_response_fields(k, c, n) for k, c in zip(names, cols, strict=True)]
        if len(fields) == 1:
            body = b"\n".join(b'""' if f == b"" else f for f in fields[0])
        else:
            body = b"\n".join(map(b",".join, zip(*fields, strict=True)))
    return b"".join([*head, body, b"\n"])


#: The dtypes of the numeric columns `_one_row` writes (those a batch holds).
_ROW_DTYPES = frozenset({np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int32)})


def _one_row(names: list[str], cols: list[Any]) -> bytes | None:
    """The row `encode_response` writes for a batch of one record whose outputs are all
    numbers (one scalar per output, or the one unnamed output of k numbers), without its
    ``\\n``; None for anything else. Each field is ``str`` of the numpy scalar, which is
    what `_textnum.format_rows` writes for it (the text of ``csv.writer``), without the
    arrays that it builds for many rows."""
    if names == ["values"] and type(cols[0]) is np.ndarray and cols[0].ndim == 2:
        values = cols[0]
        if values.dtype not in _ROW_DTYPES or values.shape[1] == 0:
            return None
        return ",".join([str(v) for v in values[0]]).encode("ascii")
    for c in cols:
        if type(c) is not np.ndarray or c.ndim != 1 or c.dtype not in _ROW_DTYPES:
            return None
    return ",".join([str(c[0]) for c in cols]).encode("ascii")


# ======================================================================================
# Reading: fields to columns
# ======================================================================================

#: The careful reader tokenizes at most this many records, or about this many bytes (a
#: longer record alone), at a time, and turns them into pieces of columns before it reads
#: on: its Python objects per record and per field stay a bounded working set, whatever
#: the size of the input (the columns themselves are what the input holds).
_CAREFUL_RECORDS = 2048
_CAREFUL_BYTES = 1 << 16


def _shown(field: bytes) -> str:
    return repr(field[:40].decode("utf-8", "replace"))


def _is_decimal(field: bytes) -> bool:
    """Whether a number field is a decimal (not one of the words nan, inf, infinity)."""
    t = field.strip(b" \t").lstrip(b"+-")
    return bool(t) and t[0] in b"0123456789."


def _numbers(
    recs: list[Record], cols: range, dtype: np.dtype[Any] | None, strict: bool, rec0: int
) -> np.ndarray | None:
    """The fields of `cols` as float64 (N, len(cols)); None if some field is not a number
    and not `strict` (strict: that is a DecodeError)."""
    out = np.empty((len(recs), len(cols)), dtype=np.float64)
    for i, r in enumerate(recs):
        for j, c in enumerate(cols):
            f = r.fields[c]
            v = _textnum.parse_number(f) if f else float("nan")
            if v is None:
                if not strict:
                    return None
                why = (
                    f"dtype {dtype}"
                    if dtype is not None
                    else "the first batch read these columns as numbers; pass dtype=str for text"
                )
                raise DecodeError(
                    CONTENT_TYPE,
                    f"column {c + 1}: {_shown(f)} is not a number ({why})",
                    offset=r.offsets[c],
                    record_index=rec0 + i,
                    line=r.line,
                )
            out[i, j] = v
    return out


def _range_error(
    typed: np.ndarray, get_recs: Callable[[], list[Record]], cols: range, rec0: int, dtype: np.dtype[Any]
) -> DecodeError | None:
    """The error of the first field whose text is a finite decimal and whose value in
    `typed` (float64 or float32) is infinite: beyond the type's range (as JSON says);
    None when there is none. The words ``inf`` and ``infinity`` are infinities. The
    records (``get_recs()``) are asked for only when a value is infinite."""
    bad = np.isinf(typed)
    if not bad.any():
        return None
    recs = get_recs()
    for i, j in np.argwhere(bad).tolist():
        r = recs[i]
        c = cols[j]
        f = r.fields[c]
        if _is_decimal(f):
            why = "the float64 range" if dtype == np.float64 else f"the {dtype} range (dtype={dtype})"
            text = f.strip(b" \t")
            return DecodeError(
                CONTENT_TYPE,
                f"column {c + 1}: {_shown(text)} is out of {why}",
                offset=r.offsets[c],
                record_index=rec0 + i,
                line=r.line,
            )
    return None


def _cast(values: np.ndarray, dtype: np.dtype[Any] | None, locate: Any) -> np.ndarray:
    """float64 values as `dtype`; int32 only when every value is an integer in range.
    Values already in `dtype` (the fast reader's float32) are returned as they are."""
    if dtype is None or dtype == np.float64 or values.dtype == dtype:
        return values
    if dtype == np.float32:
        with np.errstate(over="ignore"):
            return values.astype(np.float32)
    ok = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= 2**31 - 1)
    ok |= values == -(2**31)
    if not ok.all():
        i, j = (int(x) for x in np.argwhere(~ok)[0])
        raise locate(i, j, f"{float(values[i, j])!r} is not an int32")
    return values.astype(np.int32)


def _float32(values: np.ndarray, get_recs: Callable[[], list[Record]], cols: range) -> np.ndarray:
    """The float64 `values` of the fields `cols` of the records ``get_recs()`` as the
    correctly rounded float32 of each field's text (casting the float64 would round twice);
    the records are asked for only for the texts that need it."""
    k = len(cols)

    def text_at(i: int) -> bytes:
        r, j = divmod(i, k)
        return get_recs()[r].fields[cols[j]].strip(b" \t")

    out: np.ndarray = to_float32(values.reshape(-1), text_at).reshape(values.shape)
    return out


def _text(field: bytes, charset: str, r: Record, c: int, index: int) -> str:
    """A field's text; its bytes that are not `charset` are a `DecodeError` (`field_text`)."""
    try:
        return field.decode(charset)
    except UnicodeDecodeError:
        return field_text(field, charset, r.offsets[c], r.line, index)


def too_wide(widest: int, chars: int, n: int) -> bool:
    """Whether a fixed-width str array of `n` texts of `chars` characters in all, the
    widest `widest`, would take more than 8 bytes per character plus 1 MiB."""
    return widest * n > 2 * (chars + n) + (1 << 18)


def _same_width(texts: list[str]) -> np.ndarray | None:
    """The str array of `texts` when they all have the same number of characters (none,
    too) and none holds a NUL, from their UTF-32 code points at once (``np.array`` takes
    about 100 ns a text); None otherwise. The texts are joined with a NUL between them and
    one after the last: n rows of w + 1 code points whose last one, and only that one, is
    NUL exactly when every text is w characters without a NUL. Texts that are all empty
    are the ``<U1`` array of empty texts that ``np.array`` gives them. A lone surrogate
    (a text that is not from a body: Autopilot's class names) is one code point, as
    ``np.array`` keeps it."""
    n = len(texts)
    joined = "\0".join(texts)
    row, extra = divmod(len(joined) + 1, n)
    if extra:
        return None
    if row < 2:  # (row 1: every text empty)
        return np.zeros(n, dtype="<U1")
    joined += "\0"
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
    del joined
    grid = codes.reshape(n, row)
    if grid[:, -1].any() or np.count_nonzero(codes) != n * (row - 1):
        return None
    out: np.ndarray = np.ascontiguousarray(grid[:, :-1]).view(f"<U{row - 1}").reshape(n)
    return out


def str_column(texts: list[str]) -> np.ndarray:
    """A text column: a numpy str array, unless its widest text is so much wider than the
    others that the fixed-width array would take more than 8 bytes per byte of text plus
    1 MiB (`too_wide`); then an object array of the same str values (memory stays
    proportional to the input). Texts of one width (at least 64 of them) are made into the
    array at once (`_same_width`)."""
    n = len(texts)
    if n >= 64:
        same = _same_width(texts)
        if same is not None:
            return same
    if n and too_wide(max(map(len, texts)), sum(map(len, texts)), n):
        col = np.empty(n, dtype=object)
        col[:] = texts
        return col
    return np.array(texts, dtype=str)


#: A column of number fields or empty fields (missing values) joined by newlines, as str
#: (`_textnum.NUMBER_RE`, ASCII only, as over the bytes).
_NUMBER_TEXT_LINES = re.compile(
    "(?:" + _textnum.NUMBER_RE.pattern.decode() + ")?(?:\n(?:" + _textnum.NUMBER_RE.pattern.decode() + ")?)*",
    re.ASCII,
)
_NAN = float("nan")
#: `_column_numbers` matches the expression over at most this many lines at a time.
_REGEX_LINES = 512
#: The optional C kernel whose `numbers` reads a column of bare numbers (`smp_number`).
_CPARSE = _native.load("formats._cparse")


def _column_numbers(fields: list[str], width: int, cols: range) -> np.ndarray | None:
    """The columns `cols` of records of `width` text fields (`text_fields`) as float64
    (n, len(cols)), as `_numbers` reads the same fields' bytes; None when one is not a
    number. A column of bare numbers (no blanks, no empty field) is read by the C number
    reader at once, whose grammar is `_textnum.NUMBER_RE` without the blanks; any other
    column by the regular expression and ``float``."""
    n = len(fields) // width
    out = np.empty((n, len(cols)), dtype=np.float64)
    for j, c in enumerate(cols):
        col = fields[c::width] if width > 1 else fields
        joined = "\n".join(col)
        if joined.count("\n") != max(n - 1, 0):
            return None  # a (quoted) field holds a line end: not a number
        if _CPARSE is not None and n and joined.isascii():
            got: bytes | None = _CPARSE.numbers(joined.encode("ascii"), 0, False)
            if got is not None:
                out[:, j] = np.frombuffer(got, np.float64)
                continue
        # (the expression's repeat keeps about 900 bytes a line while it matches: lines a
        # bounded number at a time)
        for k in range(0, n, _REGEX_LINES):
            part = joined if n <= _REGEX_LINES else "\n".join(col[k : k + _REGEX_LINES])
            if _NUMBER_TEXT_LINES.fullmatch(part) is None:
                return None
        out[:, j] = [float(f) if f else _NAN for f in col]
    return out


class _Piece:
    """A piece of whole records of a careful read: ``data[a:b]``, its first line and
    record, and its fields as str, record after record (`text_fields`), where the text
    reader read them (`fields`, n records of `width`), else None. The `Record` objects are
    made only when asked for (`recs`): always where `fields` is None, else only to position
    an error."""

    __slots__ = ("_recs", "a", "b", "base", "data", "fields", "line", "n", "next_line", "rec0", "width")

    def __init__(
        self,
        data: bytes | bytearray,
        a: int,
        b: int,
        line: int,
        base: int,
        rec0: int,
        fields: list[str] | None,
        width: int,
    ) -> None:
        self.data, self.a, self.b, self.line, self.base, self.rec0 = data, a, b, line, base, rec0
        self.fields, self.width = fields, width
        self._recs: list[Record] | None = None
        if fields is not None:
            self.n = len(fields) // width
            # the careful reader counts every "\n", in quotes or not, and a last line
            # without one
            self.next_line = line + data.count(b"\n", a, b) + (b > a and data[b - 1] != 10)
        else:
            self.recs()

    def recs(self) -> list[Record]:
        if self._recs is None:
            self._recs, next_line = tokenize(self.data, self.a, self.b, self.line, self.base, self.rec0)
            if self.fields is None:
                self.n, self.next_line = len(self._recs), next_line
        return self._recs


class _Kinds:
    """Whether the label and feature blocks are numbers or text (fixed by the first batch
    of `iter_decode`, so that every batch has the same columns)."""

    __slots__ = ("features", "label")

    def __init__(self) -> None:
        self.label: str | None = None
        self.features: str | None = None


class _Block:
    """One block of columns (the label's or the features') of a careful read, built a piece
    of records at a time: numbers while every field is one, text from the first field
    that is not (the pieces read before are then read again as text)."""

    __slots__ = (
        "charset",
        "cols",
        "dtype",
        "filled",
        "fixed",
        "kind",
        "one",
        "out",
        "parts",
        "pending",
        "shared",
        "upper",
    )

    def __init__(
        self,
        cols: range,
        one: bool,
        dtype: np.dtype[Any] | None,
        charset: str,
        fixed: str | None,
        upper: Callable[[], int],
    ) -> None:
        self.cols = cols
        self.one = one  # a one-field label: a (N,) column
        self.dtype = dtype
        self.charset = charset
        self.fixed = fixed
        want_text = (dtype is not None and dtype.kind == "U") or fixed == "text"
        self.kind: str | None = "text" if want_text else None
        self.parts: list[Any] = []
        # a float64 block's first value beyond the range, raised if the block stays numbers
        self.pending: DecodeError | None = None
        # a block of lists: the column, made once at the most records the region can hold
        # (`upper`), filled a piece at a time (`filled` records so far), and the lists that
        # the records of one ASCII character, or of empty texts only, share (`text_rows`)
        self.upper = upper
        self.out: np.ndarray | None = None
        self.filled = 0
        self.shared: list[list[str] | None] = [None] * SHARED_ROWS

    def texts(self, piece: _Piece) -> list[str]:
        """The texts of a one-field block's records of `piece`."""
        c = self.cols.start
        if piece.fields is not None:
            return piece.fields[c :: piece.width] if piece.width > 1 else piece.fields
        cs, recs, rec0 = self.charset, piece.recs(), piece.rec0
        return [_text(r.fields[c], cs, r, c, rec0 + i) for i, r in enumerate(recs)]

    def take_texts(self, piece: _Piece) -> None:
        """Add the records of `piece` to a text block."""
        if self.one:
            self.parts.append(self.texts(piece))
            return
        n = piece.n
        if self.out is None:
            self.out = np.empty(max(self.upper(), n), dtype=object)
        if self.filled + n > len(self.out):  # (the data changed while it was read)
            grown = np.empty(2 * (self.filled + n), dtype=object)
            grown[: self.filled] = self.out[: self.filled]
            self.out = grown
        dst = self.out[self.filled : self.filled + n]
        cols = self.cols
        if piece.fields is not None:
            text_rows(piece.fields, piece.width, cols.start, cols.stop, dst, self.shared)
        else:
            cs, recs, rec0 = self.charset, piece.recs(), piece.rec0
            # (a piece of at most _CAREFUL_RECORDS records: its texts in one list for a moment)
            texts = [_text(r.fields[c], cs, r, c, rec0 + i) for i, r in enumerate(recs) for c in cols]
            text_rows(texts, len(cols), 0, len(cols), dst, self.shared)
        del dst
        self.filled += n

    def take_span(
        self, data: bytes | bytearray, a: int, b: int, width: int, ascii: bool, cache: TextCache | None
    ) -> tuple[int, int] | None:
        """Add the records of ``data[a:b]`` to a text block of lists of every field (records
        of `width` fields) whose column is made, straight from the bytes (`text_rows_from`):
        (the records, the line ends there), or None where the text reader declines them or
        the column is full (the caller then reads the piece as before)."""
        if self.out is None:
            return None
        got = text_rows_from(data, a, b, width, ascii, cache, self.out, self.filled, self.shared)
        if got is not None:
            self.filled += got[0]
        return got

    def read(self, piece: _Piece, before: Callable[[], Iterator[_Piece]]) -> None:
        """Add the records of `piece`; `before` reads the earlier pieces again."""
        if self.kind == "text":
            self.take_texts(piece)
            return
        dtype = self.dtype
        strict = dtype is not None or self.fixed == "number"
        rec0 = piece.rec0
        if piece.fields is not None:
            values = _column_numbers(piece.fields, piece.width, self.cols)
            if values is None and strict:  # the error, positioned by the careful reader
                _numbers(piece.recs(), self.cols, dtype, strict=True, rec0=rec0)
                raise AssertionError("csv: the text reader and the careful reader disagree")
        else:
            values = _numbers(piece.recs(), self.cols, dtype, strict=strict, rec0=rec0)
        if values is None:
            self.kind = "text"
            self.pending = None
            self.parts = []
            for p in before():
                self.take_texts(p)
            self.take_texts(piece)
            return
        self.kind = "number"
        shift = self.cols.start

        def loc(i: int, j: int, reason: str) -> DecodeError:
            r = piece.recs()[i]
            return DecodeError(
                CONTENT_TYPE,
                f"column {j + shift + 1}: {reason}",
                offset=r.offsets[j + shift],
                record_index=rec0 + i,
                line=r.line,
            )

        if dtype == np.float32:
            arr = _float32(values, piece.recs, self.cols)
            err = _range_error(arr, piece.recs, self.cols, rec0, dtype)
            if err is not None:
                raise err
        elif dtype is None or dtype == np.float64:
            arr = values
            if self.pending is None:
                err = _range_error(arr, piece.recs, self.cols, rec0, np.dtype(np.float64))
                if err is not None and strict:
                    raise err
                self.pending = err
        else:
            arr = _cast(values, dtype, loc)
        self.parts.append(arr)

    def column(self) -> Any:
        if self.pending is not None:
            raise self.pending
        if self.kind == "number":
            arr = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts)
            return arr[:, 0] if self.one else arr
        if self.one:
            return str_column(list(chain.from_iterable(self.parts)))
        out, n = self.out, self.filled
        if out is None:
            return np.empty(0, dtype=object)
        self.out = None
        if n < len(out):  # blank lines, or records across lines: fewer records than lines
            try:
                out.resize(n)  # in place, without a second array of references
            except ValueError:  # (a view of it is still alive somewhere)
                out = out[:n].copy()
        return out


def _check_width(recs: list[Record], width: int, rec0: int) -> None:
    for i, r in enumerate(recs):
        n = len(r.fields)
        if n == width:
            continue
        if n > width:
            raise DecodeError(
                CONTENT_TYPE,
                f"row has {n} fields, expected {width}: column {width + 1} is one too many",
                offset=r.offsets[width],
                record_index=rec0 + i,
                line=r.line,
            )
        raise DecodeError(
            CONTENT_TYPE,
            f"row has {n} fields, expected {width}: column {n + 1} is missing",
            offset=r.end,
            record_index=rec0 + i,
            line=r.line,
        )


def _careful_spans(
    data: bytes | bytearray, lo: int, hi: int, wide: bool = False
) -> Iterator[tuple[int, int]]:
    """``data[lo:hi]`` cut into pieces of whole records for the careful reader: at most
    `_CAREFUL_RECORDS` records, within `_CAREFUL_BYTES` bytes unless one record is longer
    (then that record alone). The last piece takes the tail as `record_ends` does.

    `wide`: pieces for the text reader (`text_fields`), whose objects per record are the
    fields it returns: a piece is then cut at its last record end within `_CAREFUL_BYTES`
    (without quotes its last line end), whatever its number of records (a piece of short
    records costs no record scan, and there are fewer of them). The caller reads a wide
    piece the text reader declines again in pieces of `_CAREFUL_RECORDS` records
    (``wide=False``)."""
    pos = lo
    while pos < hi:
        start, _ = blank_run(data, pos, hi)  # blank lines at once (the tokenizer skips them)
        if start >= hi:
            yield pos, hi
            return
        end = min(hi, start + _CAREFUL_BYTES)
        if wide and data.find(b'"', start, end) < 0:  # every line end there ends a record
            nl = -1 if end == hi else data.rfind(b"\n", start, end)
            stop = hi if end == hi else nl + 1 if nl >= 0 else start
        else:
            # (a wide piece with quotes: every record that ends in the window, since a scan
            # of the window for 2,048 records cost more than reading them: `""` records
            # were read at 71 ns a byte, most of it in record_ends; the C kernel finds the
            # last record end of the window in one pass, 0.3 ns a byte, where record_ends'
            # numpy passes take about 5)
            if wide and end < hi and _CPARSE is not None:
                stop = _CPARSE.last_record_end(data, start, end)
            else:
                want = end - start if wide else _CAREFUL_RECORDS
                stop, _, _ = record_ends(data, start, end, want, end == hi)
        if stop == start:
            stop, _, _ = record_ends(data, start, hi, 1, True)
            if stop == start:
                return
        yield pos, stop
        pos = stop


# ======================================================================================
# Reading: regions
# ======================================================================================


def _first_record(data: bytes | bytearray, lo: int, hi: int) -> tuple[int, int, int] | None:
    """The first non-blank line of ``data[lo:hi]`` as the fast reader sees it: (its fields,
    its start, the blank lines before it). None when there is none, or when its quotes
    are odd in number (a quoted field across lines: text, the careful reader's)."""
    pos = lo
    skipped = 0
    while pos < hi:
        nl = data.find(b"\n", pos, hi)
        stop = hi if nl < 0 else nl
        if stop == pos or (stop == pos + 1 and data[pos] == 13):
            run_end, run_lines = blank_run(data, pos, hi)  # and the blank lines after it
            pos = max(run_end, stop + 1)
            skipped += max(run_lines, 1)
            continue
        if data.find(b'"', pos, stop) < 0:
            return data.count(b",", pos, stop) + 1, pos, skipped
        # the commas outside quotes: those with an even number of quotes before them
        arr = np.frombuffer(data, np.uint8, stop - pos, pos)
        inside = np.bitwise_xor.accumulate(arr == 34)  # odd quotes so far: inside quotes
        if inside[-1]:
            return None
        return int(np.count_nonzero((arr == 44) & ~inside)) + 1, pos, skipped
    return None


def _careful_line(
    data: bytes | bytearray, start: int, stop: int, width: int, dtype: np.dtype[Any]
) -> np.ndarray | None:
    """One line the fast reader stopped at, read by the careful reader: its record's values
    ((1, width) in `dtype`, correctly rounded; (0, width) for a blank line), or None when
    it is anything but a record of `width` numbers (empty fields missing values): text, a
    bad record, or the start of a record across lines. The whole region then goes to the
    careful reader, which positions the error as it always has."""
    try:
        recs, _ = tokenize(data, start, stop, 1, 0, 0)
    except DecodeError:
        return None
    if not recs:
        return np.empty((0, width), dtype)
    if len(recs) != 1 or len(recs[0].fields) != width:
        return None
    values = _numbers(recs, range(width), dtype, strict=False, rec0=0)
    if values is None:
        return None
    if dtype == np.float32:
        values = _float32(values, lambda: recs, range(width))
    if _range_error(values, lambda: recs, range(width), 0, dtype) is not None:
        return None  # a number beyond the type's range: the careful reader's error
    return values


class _Region:
    """Decode ``data[lo:hi]`` (whole records) into columns, with absolute positions."""

    def __init__(
        self,
        *,
        label_size: int,
        dtype: np.dtype[Any] | None,
        charset: str,
        response_keys: Sequence[str] | None = None,
        response: bool = False,
    ) -> None:
        self.label_size = label_size
        self.dtype = dtype
        self.charset = charset
        self.width: int | None = None
        self.kinds = _Kinds()
        self.response = response
        self.response_keys = response_keys
        self.stopped: list[int] = []  # where the last fast read stopped (`fast`)

    def fast(self, data: bytes | bytearray, lo: int, hi: int) -> np.ndarray | None:
        """The fast reader's matrix, or None; then `stopped` says where it stopped, when
        the careful reader declined one line (empty otherwise)."""
        if (self.dtype is not None and self.dtype.kind == "U") or "text" in (
            self.kinds.label,
            self.kinds.features,
        ):
            return None
        first = _first_record(data, lo, hi)
        if first is None:
            return None
        width = first[0]
        if self.width is not None and width != self.width:
            return None
        dt = np.dtype(np.float32 if self.dtype == np.float32 else np.float64)
        # A large region's first record alone first, when it is a small part of it: a text
        # body (or one whose first record is bad) is the careful reader's whatever follows,
        # and the fast reader would cut the region for its threads and count its lines only
        # to stop at this record. The fast reader stops there the same way (it reads only
        # records that the careful one reads as numbers), so `stopped` says what it says.
        start = first[1]
        nl = data.find(b"\n", start, hi)
        end = hi if nl < 0 else nl + 1
        if (
            hi - lo >= _textnum.PARALLEL_MIN
            and (end - start) * 16 <= hi - lo
            and _careful_line(data, start, end, width, dt) is None
        ):
            self.stopped[:] = [start, 0]
            return None

        def careful(d: bytes | bytearray, start: int, stop: int) -> np.ndarray | None:
            return _careful_line(d, start, stop, width, dt)

        return _textnum.parse_numeric_rows(data, lo, hi, width, dt, careful, self.stopped)

    def decode(
        self, data: bytes | bytearray, lo: int, hi: int, *, line: int, base: int, rec0: int
    ) -> RecordBatch:
        self.stopped = []
        values = self.fast(data, lo, hi)
        if values is None and self.stopped:
            self.tail_error(data, lo, hi, self.stopped, line=line, base=base, rec0=rec0)
        if values is not None:
            width = values.shape[1]
            if self.width is None:
                # the first record's place, as the careful reader gives it
                first = _first_record(data, lo, hi)
                assert first is not None
                self.check_label_size(width, line + first[2], base + first[1], rec0)
            try:
                batch = self.from_matrix(values, rec0)
            except DecodeError:
                pass  # a value does not fit dtype: the careful reader positions the error
            else:
                self.width = width
                return batch
        return self.careful(data, lo, hi, line=line, base=base, rec0=rec0)

    def tail_error(
        self,
        data: bytes | bytearray,
        lo: int,
        hi: int,
        stopped: list[int],
        *,
        line: int,
        base: int,
        rec0: int,
    ) -> None:
        """The fast reader read every record before ``stopped[0]`` (``stopped[1]`` of them),
        all numbers within range, and the careful reader declined the line there: read from
        that line on with the careful reader, and raise its error if it is one the careful
        reader of the whole region would raise first (a bad record, another width, a value
        that does not fit a numeric dtype or the range), so that a bad line at the end of a
        large body does not cost a careful read of the whole body. Keyed responses, whose
        column kinds depend on every field, are left to the whole read."""
        if (hi - stopped[0]) * 2 > hi - lo:
            # most of the region: reading the tail, then the whole region, would cost more
            # than the whole region alone (which raises the same error first, if any)
            return
        first = _first_record(data, lo, hi)
        if first is None or (self.response and self.response_keys is not None):
            return
        if self.width is None:  # the first record's check comes first, as in a whole read
            self.check_label_size(first[0], line + first[2], base + first[1], rec0)
        pos, before = stopped
        tail = _Region(
            label_size=self.label_size,
            dtype=self.dtype,
            charset=self.charset,
            response=self.response,
            response_keys=self.response_keys,
        )
        tail.width = first[0] if self.width is None else self.width
        tail.kinds.label, tail.kinds.features = self.kinds.label, self.kinds.features
        at_line = line + data.count(b"\n", lo, pos)
        tail.careful(data, pos, hi, line=at_line, base=base, rec0=rec0 + before)

    def careful(
        self, data: bytes | bytearray, lo: int, hi: int, *, line: int, base: int, rec0: int
    ) -> RecordBatch:
        """The careful reader: the records of ``data[lo:hi]`` tokenized a piece at a time
        (`_careful_spans`), each piece turned into pieces of columns before the next is
        read; the first problem, in the order of the input, is the `DecodeError`."""
        # (start, stop, line, first record, whether text_fields read it)
        pieces: list[tuple[int, int, int, int, bool]] = []
        blocks: list[tuple[str, _Block]] = []
        keyed: list[list[bytes]] = []
        rec = rec0
        ascii = self.charset == "ascii"
        # keyed responses read each column's bytes (`_response_column`): records only
        columns = not (self.response and self.response_keys is not None)

        cache = text_cache(hi - lo) if columns else None  # the short texts of the region
        short: dict[bytes, bytes] = {}  # a keyed response's short fields (`_shared_fields`)

        def upper() -> int:  # the most records data[lo:hi] holds: its lines
            ends = data.count(b"\n", lo, hi) if _CPARSE is None else _CPARSE.count_newlines(data, lo, hi)
            return ends + (hi > lo and data[hi - 1] != 10)

        def before() -> Iterator[_Piece]:
            for a, b, ln, r0, fast in pieces:
                width = self.width or 0
                fields = text_fields(data, a, b, width, ascii, cache) if fast else None
                yield _Piece(data, a, b, ln, base, r0, fields, width)

        def rows_block() -> _Block | None:
            """The one block, once it is a made column of lists of every field (text with
            label_size 0, or a response's), whose pieces go straight to its lists."""
            if len(blocks) == 1:
                block = blocks[0][1]
                if block.kind == "text" and block.out is not None and block.cols == range(self.width or 0):
                    return block
            return None

        def probe(a: int, b: int) -> tuple[tuple[int, int, int] | None, list[str] | tuple[int, int] | None]:
            """The first record of a piece (while the width is not known) and its fields
            by the text reader (None: declined, or records only), or, where `rows_block`
            took the piece, its records and line ends."""
            first = None
            width = self.width
            if columns:
                if width is None:
                    first = _first_record(data, a, b)
                    width = None if first is None else first[0]
                if width:
                    rows = rows_block()
                    if rows is not None:
                        got = rows.take_span(data, a, b, width, ascii, cache)
                        if got is not None:
                            return first, got
                    return first, text_fields(data, a, b, width, ascii, cache)
            return first, None

        def spans() -> Iterator[
            tuple[int, int, tuple[int, int, int] | None, list[str] | tuple[int, int] | None]
        ]:
            for a, b in _careful_spans(data, lo, hi, columns):
                first, texts = probe(a, b)
                if texts is not None or not columns:
                    yield a, b, first, texts
                    continue
                for a2, b2 in _careful_spans(data, a, b):  # tokenized: a bounded piece
                    first, texts = probe(a2, b2)
                    yield a2, b2, first, texts

        for a, b, first, texts in spans():
            if isinstance(texts, tuple):  # read into the block's lists (`rows_block`)
                n, ends = texts
                if n:
                    pieces.append((a, b, line, rec, True))
                    rec += n
                # the careful reader counts every "\n", in quotes or not, and a last line
                # without one
                line += ends + (b > a and data[b - 1] != 10)
                continue
            piece = _Piece(data, a, b, line, base, rec, texts, self.width or (first[0] if first else 0))
            if piece.n:
                if self.width is None:
                    if texts is not None and first is not None:
                        # the first record's place, as the careful reader gives it
                        self.check_label_size(first[0], line + first[2], base + first[1], rec0)
                        self.width = first[0]
                    else:
                        r = piece.recs()[0]
                        self.check_label_size(len(r.fields), r.line, r.offsets[0], rec0)
                        self.width = len(r.fields)
                if texts is None:
                    _check_width(piece.recs(), self.width, rec)
                if not pieces:
                    blocks, keyed = self.start_blocks(upper)
                for _, block in blocks:
                    block.read(piece, before)
                for j, fields in enumerate(keyed):
                    fields.extend(_shared_fields([r.fields[j] for r in piece.recs()], short))
                pieces.append((a, b, line, rec, texts is not None))
                rec += piece.n
            line = piece.next_line
        n = rec - rec0
        if n == 0:
            return self.empty()
        if self.response and self.response_keys is not None:

            def where(i: int, j: int) -> tuple[int, int]:
                k = bisect_right([p[3] for p in pieces], rec0 + i) - 1
                a, b, ln, r0, _ = pieces[k]
                r = tokenize(data, a, b, ln, base, r0)[0][rec0 + i - r0]
                return r.offsets[j], r.line

            out: dict[str, Any] = {}
            for j, key in enumerate(self.response_keys):
                out[key] = _response_column(keyed[j], j, self.dtype, self.charset, rec0, where)
                keyed[j] = []
            return RecordBatch(label=out, n=n)
        cols: dict[str, Any] = {}
        for name, block in blocks:
            cols[name] = {"values": block.column()}
            setattr(self.kinds, name, block.kind)
        if all(len(c["values"]) == n for c in cols.values()):
            # The blocks' columns are what RecordBatch's checks return for them once
            # read-only (number arrays of a tensor dtype, str arrays, object arrays of str
            # or of lists of str), so the batch is built without walking millions of text
            # records again (and without their list of references: 8 bytes a record).
            for c in cols.values():
                c["values"] = readonly(c["values"])
            if self.response:
                return trusted_batch({}, cols["label"], n)
            return trusted_batch(cols.get("features", {}), cols.get("label", {}), n)
        if self.response:  # (the data changed while it was read: the checks say how)
            return RecordBatch(label=cols["label"], n=n)
        return RecordBatch(cols.get("features", {}), cols.get("label", {}), n=n)

    def start_blocks(self, upper: Callable[[], int]) -> tuple[list[tuple[str, _Block]], list[list[bytes]]]:
        """The blocks a careful read fills (once the width is known), or the lists of
        fields of a keyed response's columns; `upper`: the most records the region holds."""
        width = self.width or 0
        dt, cs = self.dtype, self.charset
        if self.response:
            if self.response_keys is not None:
                return [], [[] for _ in range(width)]
            return [("label", _Block(range(width), width == 1, dt, cs, self.kinds.label, upper))], []
        ls = self.label_size
        blocks = []
        if ls:
            blocks.append(("label", _Block(range(ls), ls == 1, dt, cs, self.kinds.label, upper)))
        if width > ls:
            blocks.append(("features", _Block(range(ls, width), False, dt, cs, self.kinds.features, upper)))
        return blocks, []

    def check_label_size(self, width: int, line: int, offset: int, rec0: int) -> None:
        if self.label_size > width:
            raise DecodeError(
                CONTENT_TYPE,
                f"label_size={self.label_size} but rows have {width} field(s)",
                offset=offset,
                record_index=rec0,
                line=line,
            )
        if self.response_keys == ["values"] and width > 1:
            # the one unnamed output of k numbers, as encode_response writes it: the row
            self.response_keys = None
        if self.response_keys is not None and len(self.response_keys) != width:
            raise DecodeError(
                CONTENT_TYPE,
                f"{len(self.response_keys)} keys {list(self.response_keys)} for rows of {width} field(s)",
                offset=offset,
                record_index=rec0,
                line=line,
            )

    def empty(self) -> RecordBatch:
        return RecordBatch(n=0)

    def from_matrix(self, values: np.ndarray, rec0: int) -> RecordBatch:
        """A fast-path float64 matrix as the batch (no text, every field a number)."""
        n, width = values.shape

        def locate(i: int, j: int, reason: str) -> DecodeError:
            # Only int32 casts fail here; position the field with the careful reader.
            return DecodeError(CONTENT_TYPE, f"column {j + 1}: {reason}", record_index=rec0 + i)

        if self.response:
            return self.response_matrix(values)
        ls = self.label_size
        label: dict[str, Any] = {}
        features: dict[str, Any] = {}
        if ls:
            lab = values[:, :ls] if width > ls else values
            lab = _cast(np.ascontiguousarray(lab), self.dtype, locate)
            label["values"] = lab[:, 0] if ls == 1 else lab
            self.kinds.label = "number"
        if width > ls:
            feats = values[:, ls:] if ls else values
            features["values"] = _cast(np.ascontiguousarray(feats), self.dtype, locate)
            self.kinds.features = "number"
        return RecordBatch(features, label, n=n)

    # -- responses ---------------------------------------------------------------------

    def response_matrix(self, values: np.ndarray) -> RecordBatch:
        n, width = values.shape
        values = _cast(values, self.dtype, lambda i, j, r: DecodeError(CONTENT_TYPE, r))
        if self.response_keys is None:
            return RecordBatch(label={"values": values[:, 0] if width == 1 else values}, n=n)
        return RecordBatch(
            label={k: np.ascontiguousarray(values[:, j]) for j, k in enumerate(self.response_keys)}, n=n
        )


_LIST_SPLIT = re.compile(rb"\s*,\s*")


def _list_items(field: bytes) -> list[bytes]:
    inner = field.strip()[1:-1].strip()
    return _LIST_SPLIT.split(inner) if inner else []


#: `_response_column` keeps the lists of at most this many distinct fields of a column
#: (read once each; an Autopilot ``labels`` column is one list in every record).
_SEEN_LISTS = 1024


def _parse_list(field: bytes) -> list[float] | list[str] | None:
    """A bracketed list field: numbers (``[0.4, 0.6]``, ``nan`` allowed) or a Python/JSON
    list of strings (``['a', 'b']``). None when it is neither."""
    items = _list_items(field)
    if not items:
        return []
    nums = [_textnum.parse_number(x) for x in items]
    if all(v is not None for v in nums):
        return [v for v in nums if v is not None]
    try:
        return _string_list(field.decode("utf-8").strip())
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        return None


def _string_list(text: str) -> list[str] | None:
    """``ast.literal_eval(text)`` where that is a list of str (a list display of string
    literals, adjacent ones joined as the parser joins them), else None; read from the
    parse tree itself, because each call of ``literal_eval`` leaves a reference cycle of
    its nested functions (about 1 kB) that only the cyclic collector frees, and the
    decoders pause the collector: a keyed response of 700,000 ``"['a']"`` fields held
    133 x its 6 MiB of them."""
    node = ast.parse(text.lstrip(" \t"), mode="eval").body
    if type(node) is not ast.List:
        return None
    out = []
    for item in node.elts:
        if type(item) is not ast.Constant or type(item.value) is not str:
            return None
        out.append(item.value)
    return out


def _response_numbers(
    values: np.ndarray,
    texts: Callable[[int], bytes],
    dtype: np.dtype[Any],
    fail: Callable[[int, str], DecodeError],
) -> np.ndarray:
    """float64 `values` of number texts (``texts(i)``: value i's text) in `dtype`: float32
    rounded once from the text; a finite decimal beyond the type's range is the error of
    ``fail(i, reason)``; int32 only for integers in range."""
    out = to_float32(values, texts) if dtype == np.float32 else values
    if dtype.kind == "f":
        bad = np.isinf(out)
        if bad.any():
            for i in np.flatnonzero(bad).tolist():
                t = texts(i).strip(b" \t")
                if _is_decimal(t):
                    why = "the float64 range" if dtype == np.float64 else f"the {dtype} range (dtype={dtype})"
                    raise fail(i, f"{_shown(t)} is out of {why}")
        return out
    ok = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= 2**31 - 1)
    ok |= values == -(2**31)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise fail(i, f"{float(values[i])!r} is not an int32")
    return values.astype(np.int32)


def _response_column(
    fields: list[bytes],
    j: int,
    dtype: np.dtype[Any] | None,
    charset: str,
    rec0: int,
    where: Callable[[int, int], tuple[int, int]],
) -> Any:
    """Response column `j` from its fields (record ``rec0 + i`` holds ``fields[i]``;
    ``where(i, j)`` gives its offset and line, for errors)."""

    def fail(i: int, reason: str) -> DecodeError:
        offset, line = where(i, j)
        return DecodeError(
            CONTENT_TYPE, f"column {j + 1}: {reason}", offset=offset, record_index=rec0 + i, line=line
        )

    if fields and all(f.strip().startswith(b"[") and f.strip().endswith(b"]") for f in fields):
        lists = []
        seen: dict[bytes, list[float] | list[str] | None] = {}  # (a column repeats its lists)
        for i, f in enumerate(fields):
            v = seen[f] if f in seen else _parse_list(f)
            if v is None:
                raise fail(i, "not a list of numbers or strings")
            if len(seen) < _SEEN_LISTS:
                seen[f] = v
            lists.append(v)
        del seen
        if all(all(isinstance(x, float) for x in v) for v in lists):
            num_dtype = np.dtype(np.float64) if dtype is None or dtype.kind == "U" else dtype
            lengths = np.array([len(v) for v in lists], dtype=np.int64)
            offsets = np.zeros(len(lists) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            flat = np.array(list(chain.from_iterable(lists)), dtype=np.float64)

            def item_text(k: int) -> bytes:
                i = int(np.searchsorted(offsets, k, side="right")) - 1
                return _list_items(fields[i])[k - int(offsets[i])]

            def item_fail(k: int, reason: str) -> DecodeError:
                return fail(int(np.searchsorted(offsets, k, side="right")) - 1, reason)

            values = _response_numbers(flat, item_text, num_dtype, item_fail)
            if len(set(lengths.tolist())) == 1:
                return values.reshape(len(lists), int(lengths[0]))
            return Ragged(values, offsets)
        col = np.empty(len(lists), dtype=object)
        col[:] = [[str(x) for x in v] for v in lists]
        return col
    if dtype is None or dtype.kind != "U":
        vals = [_textnum.parse_number(f) if f else float("nan") for f in fields]
        if all(v is not None for v in vals):
            return _response_numbers(
                np.array(vals, dtype=np.float64),
                fields.__getitem__,
                np.dtype(np.float64) if dtype is None else dtype,
                fail,
            )
        if dtype is not None:
            i = next(i for i, v in enumerate(vals) if v is None)
            raise fail(i, f"{fields[i][:40]!r} is not a number")
    out: list[str] = []
    texts: dict[bytes, str] = {}  # equal fields, one str (`_shared_fields` made them one bytes)
    for i, f in enumerate(fields):
        t = texts.get(f)
        if t is None:
            try:
                t = f.decode(charset)
            except UnicodeDecodeError:
                offset, line = where(i, j)
                t = field_text(f, charset, offset, line, rec0 + i)  # (raises its error)
            if len(f) <= _SHORT_FIELD and len(texts) < _SHORT_FIELDS:
                texts[f] = t
        out.append(t)
    del texts
    return str_column(out)


#: `_shared_fields` shares fields of at most this many bytes, at most this many of them.
_SHORT_FIELD = 16
_SHORT_FIELDS = 1 << 16


def _shared_fields(fields: list[bytes], seen: dict[bytes, bytes]) -> list[bytes]:
    """`fields` with each short one replaced by the equal one in `seen` (added while it
    holds fewer than `_SHORT_FIELDS`): a keyed response keeps every field of its body
    until its columns are read, and a field of a few bytes is a ``bytes`` of 35 or more
    (``ab,\n`` records: 35 x the body before, over issue #20's bound)."""
    if len(seen) < _SHORT_FIELDS:
        return [seen.setdefault(f, f) if len(f) <= _SHORT_FIELD else f for f in fields]
    return [seen.get(f, f) if len(f) <= _SHORT_FIELD else f for f in fields]


# ======================================================================================
# Reading: public verbs
# ======================================================================================


#: A column of `_textnum.NUMBER_RE` fields joined by newlines.
_NUMBER_LINES = re.compile(
    b"(?:" + _textnum.NUMBER_RE.pattern + b")(?:\n(?:" + _textnum.NUMBER_RE.pattern + b"))*"
)


def _text_response(raw: bytes | bytearray, lo: int, keys: list[str], charset: str) -> RecordBatch | None:
    """A keyed response with a text column (Autopilot's ``predicted_label,probability``
    rows), column by column: the batch `_response_column` gives for each column, or None
    (the careful reader decides). Only quote-free bodies with ``\\n`` line ends, no blank
    line, no empty field and no bracketed list, whose first line holds a field that is not
    a number (a body of numbers goes to the numeric reader)."""
    nl = raw.find(b"\n", lo)
    first = bytes(raw[lo : len(raw) if nl < 0 else nl]).split(b",")
    if all(_textnum.parse_number(f) is not None for f in first):
        return None
    body = bytes(raw[lo:])
    if not body or b'"' in body or b"\r" in body or b"\n\n" in body or body[:1] == b"\n":
        return None
    if body[-1:] == b"\n":
        body = body[:-1]
    # every line holds width - 1 commas: the separators are (",", ..., ",", "\n") n times
    a = np.frombuffer(body + b"\n", dtype=np.uint8)
    seps = a[(a == 0x0A) | (a == 0x2C)]
    width = len(keys)
    if width < 1 or seps.size % width:
        return None
    seps = seps.reshape(-1, width)
    if not (seps[:, -1] == 0x0A).all() or not (seps[:, :-1] == 0x2C).all():
        return None
    n = seps.shape[0]
    flat = body.replace(b"\n", b",").split(b",")
    if len(flat) != n * width or not all(flat):
        return None
    out: dict[str, Any] = {}
    for j, key in enumerate(keys):
        fields = flat[j::width]
        head = fields[0].strip()
        if head[:1] == b"[" and head[-1:] == b"]":
            return None  # perhaps a column of lists
        joined = b"\n".join(fields)
        numbers: list[float] | None = None
        if not joined.translate(None, b"0123456789+-.eE\n"):
            # Over these bytes float() reads exactly the fields NUMBER_RE matches.
            try:
                numbers = list(map(float, fields))
            except ValueError:
                numbers = None
        elif _NUMBER_LINES.fullmatch(joined):
            numbers = list(map(float, fields))
        if numbers is not None:
            out[key] = np.array(numbers, dtype=np.float64)
        else:
            try:
                out[key] = str_column(joined.decode(charset).split("\n"))
            except UnicodeDecodeError:
                return None
    return RecordBatch(label=out, n=n)


def read_header(data: bytes | bytearray | memoryview, *, charset: str = "utf-8") -> tuple[str, ...]:
    """The column names of the first line (for ``header=present`` bodies)."""
    raw = as_bytes(data, text=True)
    return parse_header(raw, body_start(raw), charset_option(charset))[0]


def decode(
    data: bytes | bytearray | memoryview,
    *,
    label_size: int = 0,
    header: bool = False,
    dtype: Any = None,
    charset: str = "utf-8",
) -> RecordBatch:
    """Read a request body: ``label["values"]`` from the first `label_size` fields,
    ``features["values"]`` (N, k) from the rest.

    Parameters
    ----------
    label_size : int
        Leading label fields per row (0: no label). One label field gives a ``(N,)``
        column, several a ``(N, label_size)`` one.
    header : bool
        The first line holds column names: it is skipped (see `read_header`).
    dtype : None, float64, float32, int32 or str
        None: numbers as float64, and a block (label or features) with a field that is not
        a number as text. A numeric dtype: every field must be a number (int32: an integer
        in range). str: everything as text.
    charset : str
        utf-8 (a byte order mark is skipped) or us-ascii.

    Text blocks: a one-field label is a ``str`` array ``(N,)``; otherwise each record holds
    a list of strings (an object array ``(N,)``), as a protobuf ``Bytes`` value would.
    """
    raw = as_bytes(data, text=True)
    ls = _label_size_option(label_size)
    dt = _dtype_option(dtype)
    cs = charset_option(charset)
    lo = body_start(raw)
    line = 1
    if header:
        _, lo, line = parse_header(raw, lo, cs)
    region = _Region(label_size=ls, dtype=dt, charset=cs)
    if lo >= len(raw):
        return RecordBatch(n=0)
    with paused(len(raw)):  # text rows make a list per record: no collector walks over them
        return region.decode(raw, lo, len(raw), line=line, base=0, rec0=0)


def decode_response(
    data: bytes | bytearray | memoryview,
    *,
    keys: Sequence[str] | None = None,
    header: bool = False,
    dtype: Any = None,
    charset: str = "utf-8",
) -> RecordBatch:
    """Read a response body: column j becomes ``label[keys[j]]``.

    Without `keys`, a header's names are the keys (``header=True``); with neither, the
    whole row is ``label["values"]``: ``(N,)`` for one column, ``(N, k)`` for several
    numeric ones, lists of strings otherwise; ``keys=["values"]`` reads rows of several
    fields the same way (what `encode_response` writes for that one output). A column of bracketed lists
    (``"[0.4, 0.6]"``, ``"['a', 'b']"``) becomes ``(N, k)`` numbers, a ragged column
    when the lengths differ, or lists of strings.
    """
    raw = as_bytes(data, text=True)
    dt = _dtype_option(dtype)
    cs = charset_option(charset)
    lo = body_start(raw)
    line = 1
    if header:
        names, lo, line = parse_header(raw, lo, cs)
        if keys is None and names:
            keys = names
    with paused(len(raw)):
        if keys is not None and dt is None:
            fast = _text_response(raw, lo, list(keys), cs)
            if fast is not None:
                return fast
        region = _Region(
            label_size=0,
            dtype=dt,
            charset=cs,
            response=True,
            response_keys=None if keys is None else list(keys),
        )
        if lo >= len(raw):
            return RecordBatch(n=0)
        return region.decode(raw, lo, len(raw), line=line, base=0, rec0=0)


def iter_decode(
    source: bytes | bytearray | memoryview | IO[bytes],
    *,
    batch_size: int = 10_000,
    label_size: int = 0,
    header: bool = False,
    dtype: Any = None,
    charset: str = "utf-8",
) -> Iterator[RecordBatch]:
    """Decode a buffer or binary stream in batches of at most `batch_size` records.

    Memory stays bounded by one batch (plus one read block), not the input. Concatenating
    the batches equals `decode` of the whole input, and errors carry the same absolute
    line, byte offset and record index. The first batch fixes the width and whether each
    block is numbers or text; a later batch that disagrees is a `DecodeError`.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ls = _label_size_option(label_size)
    dt = _dtype_option(dtype)
    cs = charset_option(charset)
    region = _Region(label_size=ls, dtype=dt, charset=cs)
    if hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview)):
        yield from _iter_stream(source, batch_size, header, region, cs)
        return
    raw = as_bytes(source, text=True)
    lo = body_start(raw)
    line = 1
    if header:
        _, lo, line = parse_header(raw, lo, cs)
    rec0 = 0
    while lo < len(raw):
        stop, records, lines = record_ends(raw, lo, len(raw), batch_size, True)
        if records == 0:
            break
        yield _decode_piece(region, raw, lo, stop, line, 0, rec0)
        rec0 += records
        line += lines
        lo = stop


def _decode_piece(
    region: _Region, data: bytes | bytearray, lo: int, hi: int, line: int, base: int, rec0: int
) -> RecordBatch:
    kinds = (region.kinds.label, region.kinds.features)
    batch = region.decode(data, lo, hi, line=line, base=base, rec0=rec0)
    if kinds != (None, None) and (region.kinds.label, region.kinds.features) != kinds:
        raise DecodeError(
            CONTENT_TYPE,
            "this batch has text where the first batch had numbers (pass dtype=str to read all as text)",
            offset=base + lo,
            record_index=rec0,
            line=line,
        )
    return batch


def _iter_stream(
    stream: IO[bytes], batch_size: int, header: bool, region: _Region, charset: str
) -> Iterator[RecordBatch]:
    """Read blocks into a growing buffer; each block is scanned once for record ends (the
    scan resumes where it stopped), so a batch costs time linear in its bytes."""
    buf = bytearray()
    base = 0  # absolute offset of buf[0]
    line = 1
    rec0 = 0
    eof = False
    started = False
    # Where the record scan of the current batch has got to (a record boundary in buf).
    scan_stop = scan_records = scan_lines = 0
    while True:
        if not eof:
            chunk = stream.read(_STREAM_BLOCK)
            if not isinstance(chunk, (bytes, bytearray)):
                raise TypeError(f"the stream returned {type(chunk).__name__}, expected bytes")
            if chunk:
                buf += chunk
            else:
                eof = True
        if not started:
            if len(buf) < 4 and not eof:
                continue
            head = bytes(buf)
            lo = body_start(head)
            if header:
                if head.find(b"\n", lo) < 0 and not eof:
                    continue
                _, pos, line = parse_header(head, lo, charset)
            else:
                pos = lo
            del buf[:pos]
            base += pos
            started = True
        while True:
            stop, records, lines = record_ends(buf, scan_stop, len(buf), batch_size - scan_records, eof)
            records += scan_records
            lines += scan_lines
            if records == 0 or (records < batch_size and not eof):
                if eof and records == 0:
                    return
                scan_stop, scan_records, scan_lines = stop, records, lines
                break
            piece = bytes(buf[:stop])
            yield _decode_piece(region, piece, 0, stop, line, base, rec0)
            rec0 += records
            line += lines
            del buf[:stop]
            base += stop
            scan_stop = scan_records = scan_lines = 0
        if eof and not buf.strip(b"\r\n"):
            return


# ======================================================================================
# The registry's codec
# ======================================================================================


def _media(params: Mapping[str, str]) -> str:
    return CONTENT_TYPE + "".join(f"; {k}={v}" for k, v in params.items())


@dataclass(frozen=True, slots=True)
class CsvCodec(Codec):
    """The registry's codec for ``text/csv``: MIME parameters ``label_size``, ``charset``,
    ``header=present|absent`` (others are ignored); options as `decode` / `encode` /
    `decode_response` / `encode_response` take them (``names`` only encoding requests,
    ``keys`` only responses, ``dtype`` and ``charset`` only decoding)."""

    content_type: ClassVar[str] = CONTENT_TYPE
    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)

    label_size: int | None = None
    header: bool = False
    charset: str = "utf-8"
    dtype: Any = None
    names: Sequence[str] | None = None
    keys: Sequence[str] | None = None

    def __post_init__(self) -> None:
        # A bad option is an error when the codec is built, not at its first body; lists of
        # names are kept as tuples, so that a codec can be hashed.
        if self.label_size is not None:
            _label_size_option(self.label_size)
        _dtype_option(self.dtype)
        for name in ("names", "keys"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_params(cls, params: Mapping[str, str], /, **options: Any) -> CsvCodec:
        from_media: dict[str, Any] = {}
        raw = params.get("label_size")
        if raw is not None:
            if not re.fullmatch(r"[0-9]{1,9}", raw.strip()):
                raise UnsupportedMediaTypeError(
                    _media(params),
                    (CONTENT_TYPE,),
                    f"label_size must be a non-negative integer, got {raw!r}",
                )
            from_media["label_size"] = int(raw)
        charset = params.get("charset", "utf-8")
        if charset.strip().lower() not in CHARSETS:
            raise UnsupportedMediaTypeError(
                _media(params),
                (CONTENT_TYPE,),
                f"charset {charset!r} is not supported; text/csv is read as utf-8 (with or "
                "without a byte order mark) or us-ascii",
            )
        from_media["charset"] = charset
        hdr = params.get("header", "absent").strip().lower()
        if hdr not in ("present", "absent"):
            raise UnsupportedMediaTypeError(
                _media(params),
                (CONTENT_TYPE,),
                f"header must be 'present' or 'absent', got {params['header']!r}",
            )
        from_media["header"] = hdr == "present"
        return cls._make(**(from_media | options))

    def encode(self, data: RecordBatch, /) -> bytes:
        return encode(data, label_size=self.label_size, header=self.header, names=self.names)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(
            data, label_size=self.label_size or 0, header=self.header, dtype=self.dtype, charset=self.charset
        )

    def encode_response(self, data: RecordBatch, /) -> bytes:
        return encode_response(data, keys=self.keys, header=self.header)

    def decode_response(self, data: Any, /) -> RecordBatch:
        return decode_response(
            data, keys=self.keys, header=self.header, dtype=self.dtype, charset=self.charset
        )

    def iter_decode(self, source: Any, /, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[RecordBatch]:
        return iter_decode(
            source,
            batch_size=batch_size,
            label_size=self.label_size or 0,
            header=self.header,
            dtype=self.dtype,
            charset=self.charset,
        )
