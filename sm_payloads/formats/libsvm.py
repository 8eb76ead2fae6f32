"""``text/libsvm`` (alias ``text/x-libsvm``): ``label qid:q index:value ...`` rows, as XGBoost
reads them.

Rule 1 (layout): one record per line; tokens are separated by ASCII whitespace; ``#``
starts a comment that runs to the end of the line; lines that hold nothing (blank or
comment only) are not records. The first token is the label when it has no ``:``
(XGBoost's SageMaker container ignores such tokens at inference, so the label is optional:
either every record has one or none does). An optional ``qid:<n>`` follows it. Then
``index:value`` pairs with strictly increasing indices.
Rule 2 (columns): ``features["values"]`` is a ``scipy.sparse.csr_array`` ``(N, D)``,
float64 unless ``dtype=`` says float32; ``label["values"]`` is ``(N,)`` of the same dtype
and ``label["qid"]`` ``(N,)`` int32. ``D`` is ``num_features`` when given, else the largest
index + 1. The index on the wire minus ``index_base`` (0 by default, as XGBoost reads it) is
the column.
Rule 3 (errors): a `DecodeError` names the line (1-based), the token (1-based, in the
reason) and the byte offset of the token or of the part of it at fault.
Rule 4 (writing): CSR in, indices sorted, values in the shortest text that reads back to
the same float32 / float64 (``nan``, ``inf``, ``-inf`` for the non-finite ones), one
``\\n`` after every line.
Rule 5 (speed): input is read in blocks of whole lines (1 MiB). A block is read in one pass
by the C kernel ``_clibsvm.parse`` (without the GIL, straight into the CSR parts, the labels
and the qids) or, where the extension is not built, by its numpy twin `_fast` (``bytes.split``,
then ``int`` and ``float`` in bulk). Labels, ``qid``, comments, blank lines and CRLF are
all on this path. Both accept exactly what the careful per-token reader accepts and give
its result bit for bit, or decline the whole block; the careful reader then reads that
block and reports the exact position of the first error.
Rule 6 (numbers): every label and value is the correctly rounded number of its text in the
requested dtype; a float32 is rounded once, from the decimal text, never through a float64.
A decimal beyond the range of that dtype (one that rounds to infinity: ``1e400``, or
``1e39`` with float32) is a `DecodeError` ("out of the float32 range"), as in JSON; the
words ``inf`` and ``infinity`` are infinities, and ``3.4028235677973366e38`` is FLT_MAX.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import IO, TYPE_CHECKING, Any, ClassVar

import numpy as np
import orjson

from .. import _native
from .._buffers import as_view
from ..codec import DEFAULT_BATCH_SIZE, Capabilities, Codec
from ..errors import DecodeError, EncodeError, UnsupportedMediaTypeError
from ..record import Ragged, RecordBatch, Sparse, from_dense, from_sparse
from ._exact import float32_of_text, to_float32

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from .. import _sparse as sp

CONTENT_TYPE = "text/libsvm"
ALIASES = ("text/x-libsvm",)

__all__ = ["ALIASES", "CONTENT_TYPE", "LibSVMCodec", "decode", "encode", "iter_decode"]

#: The largest column a record may use (widths stay within int32, as XGBoost's uint32 ids).
MAX_COLUMN = 2**31 - 2
_QID_MAX = 2**31 - 1
_BLOCK = 1 << 20
_TOKEN = re.compile(rb"\S+")
_DIGITS = re.compile(rb"[0-9]+\Z")
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
_C = _native.load("formats._clibsvm")


# ======================================================================================
# Decoding
# ======================================================================================


@dataclass
class _State:
    """What one block of lines needs to know about the ones before it."""

    index_base: int
    num_features: int | None
    dtype: np.dtype[Any] = _FLOAT_DTYPES[0]  # of the values and labels
    offset: int = 0  # byte offset of the next block
    line: int = 1  # number of its first line
    record: int = 0  # index of its first record
    has_label: bool | None = None
    has_qid: bool | None = None
    first_line: int = 0  # the line that decided has_label / has_qid
    max_col: int = -1  # the largest column read so far
    batch_max: int = -1  # the largest column of the batches handed out so far


@dataclass
class _Rows:
    """Parsed records of one block."""

    counts: np.ndarray  # entries per record, int64
    cols: np.ndarray  # columns (index - base), int32 or int64
    values: np.ndarray  # of the state's dtype
    labels: np.ndarray | None = None  # of the state's dtype
    qids: np.ndarray | None = None  # int64
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = int(self.counts.size)


def _show(tok: bytes) -> str:
    text = tok[:24].decode("utf-8", "backslashreplace")
    return repr(text + ("..." if len(tok) > 24 else ""))


_F32_MAX = float(np.finfo(np.float32).max)


def _is_decimal(s: bytes) -> bool:
    """Whether a number's text is a decimal, not one of the words nan, inf, infinity."""
    t = s.lstrip(b"+-")
    return bool(t) and t[0] in b"0123456789."


def _out_of_range(value: float, text: bytes, dtype: np.dtype[Any]) -> str | None:
    """Why `text` (read as `value` by float()) is beyond the range of `dtype`: a decimal
    that rounds to infinity in it (as JSON says); None when it is not."""
    if abs(value) < _F32_MAX or not _is_decimal(text):
        return None
    if math.isinf(value):
        return "the float64 range" if dtype == np.float64 else "the float32 range (dtype=float32)"
    if dtype == np.float32 and math.isinf(float(float32_of_text(text))):
        return "the float32 range (dtype=float32)"
    return None


def _is_float_text(s: bytes) -> float | None:
    if b"_" in s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


def _floats(values: list[float], texts: list[bytes], dtype: np.dtype[Any]) -> np.ndarray:
    """`values` (float() of `texts`) in `dtype`: float32 rounded once, from the text."""
    v = np.array(values, dtype=np.float64)
    return v if dtype == np.float64 else to_float32(v, texts.__getitem__)


def _careful(block: bytes, st: _State) -> _Rows:
    """Parse `block` token by token; raise the exact `DecodeError` of its first problem."""
    counts: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    texts: list[bytes] = []
    labels: list[float] = []
    label_texts: list[bytes] = []
    qids: list[int] = []
    base = st.index_base
    start = 0
    size = len(block)
    while start < size:
        end = block.find(b"\n", start)
        if end < 0:
            end = size
        line = block[start:end]
        line_no = st.line
        where = st.offset + start
        st.line += 1
        start = end + 1
        hash_at = line.find(b"#")
        if hash_at >= 0:
            line = line[:hash_at]
        tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(line)]
        if not tokens:
            continue
        rec = st.record

        def fail(
            reason: str, at: int, *, _line: int = line_no, _where: int = where, _rec: int = rec
        ) -> DecodeError:
            return DecodeError(CONTENT_TYPE, reason, offset=_where + at, line=_line, record_index=_rec)

        k = 0
        pos0, first = tokens[0]
        has_label = b":" not in first
        if has_label:
            label = _is_float_text(first)
            if label is None:
                raise fail(f"token 1: label {_show(first)} is not a number", pos0)
            beyond = _out_of_range(label, first, st.dtype)
            if beyond is not None:
                raise fail(f"token 1: label {_show(first)} is out of {beyond}", pos0)
            labels.append(label)
            label_texts.append(first)
            k = 1
        if st.has_label is None:
            st.has_label = has_label
            st.first_line = line_no
        elif st.has_label != has_label:
            raise fail(
                f"this record has {'a' if has_label else 'no'} label but the record on line "
                f"{st.first_line} has {'none' if has_label else 'one'} (labels are all or none)",
                pos0,
            )
        has_qid = k < len(tokens) and tokens[k][1].startswith(b"qid:")
        qid_at = tokens[k][0] if has_qid else pos0
        if has_qid:
            pos, tok = tokens[k]
            q = tok[4:]
            if not _DIGITS.match(q) or len(q) > 10 or int(q) > _QID_MAX:
                raise fail(f"token {k + 1}: qid {_show(q)} is not an integer from 0 to {_QID_MAX}", pos + 4)
            qids.append(int(q))
            k += 1
        if st.has_qid is None:
            st.has_qid = has_qid
        elif st.has_qid != has_qid:
            raise fail(
                f"this record has {'a' if has_qid else 'no'} qid but the record on line "
                f"{st.first_line} has {'none' if has_qid else 'one'} (qid is all or none)",
                qid_at,
            )
        prev = -1
        n_before = len(cols)
        for j in range(k, len(tokens)):
            pos, tok = tokens[j]
            name = f"token {j + 1}"
            colon = tok.find(b":")
            if colon < 0:
                raise fail(f"{name}: {_show(tok)} is not index:value", pos)
            if tok.startswith(b"qid:"):
                raise fail(f"{name}: qid must come right after the label", pos)
            idx_s, val_s = tok[:colon], tok[colon + 1 :]
            if b":" in val_s:
                raise fail(f"{name}: {_show(tok)} has more than one ':'", pos + colon + 1 + val_s.find(b":"))
            if not _DIGITS.match(idx_s):
                if idx_s[:1] == b"-" and _DIGITS.match(idx_s[1:]):
                    raise fail(f"{name}: negative index {idx_s.decode()}", pos)
                raise fail(f"{name}: index {_show(idx_s)} is not a non-negative integer", pos)
            if len(idx_s) > 12 or int(idx_s) - base > MAX_COLUMN:
                raise fail(f"{name}: index {_show(idx_s)} is too large (columns stop at {MAX_COLUMN})", pos)
            idx = int(idx_s)
            if idx < base:
                raise fail(f"{name}: index {idx} is below index_base={base}", pos)
            col = idx - base
            if col == prev:
                raise fail(f"{name}: duplicate index {idx}", pos)
            if col < prev:
                raise fail(
                    f"{name}: index {idx} is not greater than the previous index {prev + base} "
                    "(indices must increase)",
                    pos,
                )
            if st.num_features is not None and col >= st.num_features:
                raise fail(f"{name}: index {idx} is outside num_features={st.num_features}", pos)
            val = _is_float_text(val_s)
            if val is None:
                raise fail(f"{name}: value {_show(val_s)} is not a number", pos + colon + 1)
            beyond = _out_of_range(val, val_s, st.dtype)
            if beyond is not None:
                raise fail(f"{name}: value {_show(val_s)} is out of {beyond}", pos + colon + 1)
            prev = col
            cols.append(col)
            values.append(val)
            texts.append(val_s)
        counts.append(len(cols) - n_before)
        st.max_col = max(st.max_col, prev)
        st.record += 1
    st.offset += size
    return _Rows(
        np.array(counts, dtype=np.int64),
        np.array(cols, dtype=np.int64),
        _floats(values, texts, st.dtype),
        _floats(labels, label_texts, st.dtype) if st.has_label else None,
        np.array(qids, dtype=np.int64) if st.has_qid else None,
    )


def _lines(block: bytes) -> int:
    """How many lines `block` holds (the careful reader's count)."""
    return block.count(b"\n") + (0 if block.endswith(b"\n") or not block else 1)


def _fast(block: bytes, st: _State) -> _Rows | None:
    """Read a whole block in bulk, or decline it (None, `st` untouched).

    The numpy twin of ``_clibsvm.parse``: it accepts exactly the blocks the careful reader
    reads without an error and returns what that reader returns (columns as int32), or
    declines. Lines are split with ``bytes.split``; indices go through ``int`` and numbers
    through ``float`` in bulk (float32: rounded once, from the text, by ``_exact``).
    """
    lines = block.split(b"\n")
    if b"#" in block:
        lines = [ln.partition(b"#")[0] for ln in lines]
    labels: list[bytes] = []
    qids: list[bytes] = []
    counts: list[int] = []
    pairs: list[bytes] = []
    no_label = 0
    add_label, add_qid, add_count, add_pairs = labels.append, qids.append, counts.append, pairs.extend
    for line in lines:
        toks = line.split()
        if not toks:
            continue
        if b":" in toks[0]:
            no_label += 1
        else:
            add_label(toks[0])
            del toks[0]
        if toks and toks[0].startswith(b"qid:"):
            add_qid(toks[0][4:])
            del toks[0]
        add_count(len(toks))
        add_pairs(toks)
    n = len(counts)
    if not n:
        st.line += _lines(block)
        st.offset += len(block)
        empty = np.zeros(0, st.dtype)
        return _Rows(np.zeros(0, np.int64), np.zeros(0, np.int32), empty)
    has_label, has_qid = bool(labels), bool(qids)
    if (has_label and no_label) or (has_qid and len(qids) != n):
        return None
    if st.has_label is not None and (st.has_label != has_label or st.has_qid != has_qid):
        return None
    total = len(pairs)
    joined = b" ".join(pairs)
    if b"_" in joined or joined.count(b":") != total or not all(map(bytes.__contains__, pairs, repeat(b":"))):
        return None
    parts = joined.replace(b":", b" ").split()
    if len(parts) != 2 * total:
        return None
    idx_parts, val_parts = parts[0::2], parts[1::2]
    if total and (not b"".join(idx_parts).isdigit() or max(map(len, idx_parts)) > 12):
        return None
    if has_label and b"_" in b" ".join(labels):
        return None
    q = None
    if has_qid:
        if not b"".join(qids).isdigit() or min(map(len, qids)) < 1 or max(map(len, qids)) > 10:
            return None
        q = np.fromiter(map(int, qids), dtype=np.int64, count=n)
        if int(q.max()) > _QID_MAX:
            return None
    try:
        idx = np.fromiter(map(int, idx_parts), dtype=np.int64, count=total)
        values = np.fromiter(map(float, val_parts), dtype=np.float64, count=total)
        lab = np.fromiter(map(float, labels), dtype=np.float64, count=n) if has_label else None
    except ValueError:
        return None
    cols = idx - st.index_base
    count_arr = np.array(counts, dtype=np.int64)
    if total:
        if int(cols.min()) < 0 or int(cols.max()) > MAX_COLUMN:
            return None
        if st.num_features is not None and int(cols.max()) >= st.num_features:
            return None
        if total > 1:
            step = np.diff(cols)
            starts = np.cumsum(count_arr)[:-1]
            starts = starts[(starts > 0) & (starts < total)]
            ok = step > 0
            ok[starts - 1] = True  # the first entry of a record may be anything
            if not ok.all():
                return None
    if st.dtype != np.float64:
        values = to_float32(values, val_parts.__getitem__)
        if lab is not None:
            lab = to_float32(lab, labels.__getitem__)
    # a decimal beyond the type's range: the careful reader's error
    for arr, texts in ((values, val_parts), (lab, labels)):
        inf = np.flatnonzero(np.isinf(arr)).tolist() if arr is not None else []
        if any(_is_decimal(texts[i]) for i in inf):
            return None
    if st.has_label is None:
        st.has_label, st.has_qid = has_label, has_qid
        first = next(i for i, ln in enumerate(lines) if ln.split())
        st.first_line = st.line + first
    if total:
        st.max_col = max(st.max_col, int(cols.max()))
    st.line += _lines(block)
    st.offset += len(block)
    st.record += n
    return _Rows(count_arr, cols.astype(np.int32), values, lab, q)


def _kernel(block: bytes, st: _State, report: bool = False) -> _Rows | int | None:
    """``_clibsvm.parse`` on a whole block: the `_fast` contract, in C; with `report`, a
    declined block gives the offset of the line the kernel stopped in instead of None."""
    assert _C is not None
    newlines, nnz_cap = _C.sizes(block, 0, len(block))
    rows_cap = newlines + 1
    counts = np.empty(rows_cap, np.int64)
    cols = np.empty(nnz_cap, np.int32)
    values = np.empty(nnz_cap, st.dtype)
    labels = np.empty(rows_cap, st.dtype)
    qids = np.empty(rows_cap, np.int64)
    got = _C.parse(
        block,
        0,
        len(block),
        st.index_base,
        -1 if st.num_features is None else st.num_features,
        st.dtype == np.float32,
        -1 if st.has_label is None else int(st.has_label),
        -1 if st.has_qid is None else int(st.has_qid),
        counts,
        cols,
        values,
        labels,
        qids,
        report,
    )
    if got is None or type(got) is int:
        return got
    n, nnz, lines, has_label, has_qid, first_line, max_col = got
    if st.has_label is None and n:
        st.has_label, st.has_qid = bool(has_label), bool(has_qid)
        st.first_line = st.line + first_line
    st.max_col = max(st.max_col, max_col)
    st.line += lines
    st.offset += len(block)
    st.record += n
    return _Rows(
        counts[:n],
        cols[:nnz],
        values[:nnz],
        labels[:n] if st.has_label else None,
        qids[:n] if st.has_qid else None,
    )


def _parse(block: bytes, st: _State) -> list[_Rows]:
    """The records of `block`: the kernel's (or its twin's); where the kernel declines a
    line, the lines before it are the kernel's and the careful reader takes the rest of the
    block from that line (its error, if it has one, is then found at once, not after a
    careful reading of the whole block)."""
    if _C is None:
        rows = _fast(block, st)
        return [_careful(block, st) if rows is None else rows]
    got = _kernel(block, st, report=True)
    if isinstance(got, _Rows):
        return [got]
    stop = 0 if got is None else got
    head = _kernel(block[:stop], st) if stop else None
    if stop and not isinstance(head, _Rows):  # (the lines before it were read once)
        return [_careful(block, st)]
    rest = _careful(block[stop:], st)
    return [rest] if not isinstance(head, _Rows) else [head, rest]


def _blocks(source: Any, block_size: int) -> Iterator[bytes]:
    """Complete lines in blocks of about `block_size` bytes (a longer line is one block)."""
    if hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview)):
        pieces: list[bytes] = []
        while True:
            chunk = source.read(block_size)
            if not chunk:
                break
            chunk = bytes(chunk)
            cut = chunk.rfind(b"\n")
            if cut < 0:
                pieces.append(chunk)  # a line longer than a block
                continue
            pieces.append(chunk[: cut + 1])
            yield b"".join(pieces)
            pieces = [chunk[cut + 1 :]]
        tail = b"".join(pieces)
        if tail:
            yield tail
        return
    view: Any = source if isinstance(source, bytes) else as_view(source)
    size = len(view)
    start = 0
    while start < size:
        width = block_size
        while True:
            stop = start + width
            if stop >= size:
                yield bytes(view[start:size])
                return
            chunk = bytes(view[start:stop])
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                yield chunk[: cut + 1]
                start += cut + 1
                break
            width *= 2  # one long line: widen until it ends


def _check_options(index_base: int, num_features: int | None, dtype: Any) -> np.dtype[Any]:
    if index_base not in (0, 1):
        raise ValueError(f"index_base must be 0 or 1, not {index_base!r}")
    if num_features is not None and not (0 <= num_features <= MAX_COLUMN + 1):
        raise ValueError(f"num_features must be from 0 to {MAX_COLUMN + 1}, not {num_features!r}")
    dt: np.dtype[Any] = np.dtype(dtype)
    if dt not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be float64 or float32, not {dt}")
    return dt


def _join(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
    """One array of `arrays` (a copy, so that no part keeps a larger buffer alive)."""
    if not arrays:
        return np.zeros(0, dtype)
    return np.concatenate(arrays).astype(dtype, copy=False) if len(arrays) > 1 else arrays[0].astype(dtype)


def _batch(parts: list[_Rows], width: int, dtype: np.dtype[Any], st: _State) -> RecordBatch:
    counts = _join([p.counts for p in parts], np.int64)
    cols = _join([p.cols for p in parts], np.int32)
    values = _join([p.values for p in parts], dtype)
    n = int(counts.size)
    index_dtype = np.int32 if cols.size < 2**31 else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    matrix = sp.csr_array(
        (values.astype(dtype, copy=False), cols.astype(index_dtype, copy=False), indptr), shape=(n, width)
    )
    label: dict[str, Any] = {}
    if st.has_label and n:
        label["values"] = _join([p.labels for p in parts if p.labels is not None], dtype)
    if st.has_qid and n:
        label["qid"] = _join([p.qids for p in parts if p.qids is not None], np.int64).astype(np.int32)
    return RecordBatch({"values": matrix}, label, n=n)


def decode(
    data: bytes | bytearray | memoryview,
    *,
    index_base: int = 0,
    num_features: int | None = None,
    dtype: Any = np.float64,
    copy: bool = True,
) -> RecordBatch:
    """Read libsvm rows into ``features["values"]`` (CSR) and ``label["values"]``.

    Parameters
    ----------
    data : bytes-like
        The whole payload (UTF-8 / ASCII text). Empty: an empty batch.
    index_base : 0 or 1
        What the first column is called on the wire. 0 (the default) is how XGBoost reads
        libsvm; 1 is classic LIBSVM's convention (index 0 is then an error).
    num_features : int, optional
        The width ``D`` of the matrix; an index at or beyond it is an error. By default the
        largest index + 1.
    dtype : float64 or float32
        The dtype of the values and labels (``label["qid"]`` is always int32).
    copy : bool
        Accepted for symmetry with the binary formats; text always decodes to new arrays.

    Raises
    ------
    DecodeError
        With the line, the byte offset and the record index of the first problem (the
        token number is in the reason).

    Examples
    --------
    >>> b = decode(b"1 0:0.5 3:2\\n0 1:1\\n")
    >>> b.features["values"].toarray().tolist(), b.label["values"].tolist()
    ([[0.5, 0.0, 0.0, 2.0], [0.0, 1.0, 0.0, 0.0]], [1.0, 0.0])
    """
    dt = _check_options(index_base, num_features, dtype)
    st = _State(index_base, num_features, dt)
    parts = [rows for block in _blocks(data, _BLOCK) for rows in _parse(block, st)]
    width = num_features if num_features is not None else st.max_col + 1
    return _batch(parts, width, dt, st)


def iter_decode(
    source: bytes | bytearray | memoryview | IO[bytes],
    *,
    batch_size: int = 10_000,
    index_base: int = 0,
    num_features: int | None = None,
    dtype: Any = np.float64,
    copy: bool = True,
) -> Iterator[RecordBatch]:
    """Decode a buffer or a binary stream in batches of at most `batch_size` records.

    Memory stays bounded by one batch plus one block of input (1 MiB, or one line if a
    line is longer). With `num_features` every batch has that width and concatenating the
    batches gives what `decode` returns. Without it a batch is as wide as the largest index
    seen so far, in this batch or an earlier one, + 1: widths never shrink, and the last
    batch is as wide as `decode`'s matrix (widen earlier ones with ``m.resize``, or pass
    `num_features`).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    dt = _check_options(index_base, num_features, dtype)
    st = _State(index_base, num_features, dt)
    pending: list[_Rows] = []
    held = 0
    for rows in (r for block in _blocks(source, _BLOCK) for r in _parse(block, st)):
        if not rows.n:
            continue
        pending.append(rows)
        held += rows.n
        while held >= batch_size:
            head, pending = _split(pending, batch_size)
            held -= batch_size
            yield _batch(head, num_features if num_features is not None else _width(head, st), dt, st)
    if held:
        yield _batch(pending, num_features if num_features is not None else _width(pending, st), dt, st)


def _width(parts: list[_Rows], st: _State) -> int:
    """The running maximum: the widest column this batch and the ones before it use, + 1."""
    seen = max((int(p.cols.max()) for p in parts if p.cols.size), default=-1)
    st.batch_max = max(seen, st.batch_max)
    return st.batch_max + 1


def _split(parts: list[_Rows], k: int) -> tuple[list[_Rows], list[_Rows]]:
    """The first `k` records of `parts`, and the rest."""
    head: list[_Rows] = []
    rest = list(parts)
    need = k
    while need:
        p = rest.pop(0)
        if p.n <= need:
            head.append(p)
            need -= p.n
            continue
        nnz = int(p.counts[:need].sum())
        head.append(
            _Rows(
                p.counts[:need],
                p.cols[:nnz],
                p.values[:nnz],
                None if p.labels is None else p.labels[:need],
                None if p.qids is None else p.qids[:need],
            )
        )
        rest.insert(
            0,
            _Rows(
                p.counts[need:],
                p.cols[nnz:],
                p.values[nnz:],
                None if p.labels is None else p.labels[need:],
                None if p.qids is None else p.qids[need:],
            ),
        )
        need = 0
    return head, rest


# ======================================================================================
# Encoding
# ======================================================================================


def _texts(a: np.ndarray) -> list[bytes]:
    """The shortest text of each value that reads back to the same value of `a`'s dtype."""
    if a.size == 0:
        return []
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f" and a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("="))
    out = orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    if a.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(a))
        for k in bad.tolist():
            v = a[k]
            out[k] = b"nan" if v != v else (b"inf" if v > 0 else b"-inf")
    return out


def _features(batch: RecordBatch) -> tuple[Any, str]:
    if len(batch.features) != 1:
        names = ", ".join(repr(k) for k in batch.features) or "none"
        raise EncodeError(CONTENT_TYPE, f"libsvm rows hold one feature vector; the batch has {names}")
    name, col = next(iter(batch.features.items()))
    cname = f"features[{name!r}]"
    if isinstance(col, (Ragged, Sparse)) or (isinstance(col, np.ndarray) and col.dtype.kind in "USO"):
        raise EncodeError(
            CONTENT_TYPE, "libsvm holds numeric vectors (dense (N, k) or CSR (N, D))", column=cname
        )
    if isinstance(col, np.ndarray):
        if col.ndim != 2:
            raise EncodeError(
                CONTENT_TYPE,
                f"libsvm holds one vector per record; got record shape {col.shape[1:]}",
                column=cname,
            )
        # Zeros are left out, as every libsvm writer does (XGBoost reads an absent entry as
        # missing); a CSR input keeps its explicit zeros.
        col = sp.csr_array(col)
    m = sp.csr_array(col)
    if not m.has_sorted_indices:
        m = m.copy()
        m.sort_indices()
    if m.nnz > 1:
        step = np.diff(m.indices.astype(np.int64))
        starts = m.indptr[1:-1]
        starts = starts[(starts > 0) & (starts < m.nnz)]
        ok = step != 0
        ok[starts - 1] = True
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0]) + 1
            rec = int(np.searchsorted(m.indptr, k, side="right")) - 1
            raise EncodeError(CONTENT_TYPE, f"record {rec} has index {int(m.indices[k])} twice", column=cname)
    return m, cname


def _labels(batch: RecordBatch) -> tuple[np.ndarray | None, np.ndarray | None]:
    values = qid = None
    for key, col in batch.label.items():
        cname = f"label[{key!r}]"
        if key not in ("values", "qid"):
            raise EncodeError(
                CONTENT_TYPE, "libsvm has a place for label['values'] and label['qid'] only", column=cname
            )
        if not isinstance(col, np.ndarray) or col.dtype.kind not in "fi":
            raise EncodeError(CONTENT_TYPE, "must be a dense numeric column", column=cname)
        if col.ndim == 2 and col.shape[1] == 1:
            col = col[:, 0]
        if col.ndim != 1:
            raise EncodeError(
                CONTENT_TYPE, f"must hold one value per record, not {col.shape[1:]}", column=cname
            )
        if key == "values":
            values = col
        else:
            if col.dtype.kind != "i" or (col.size and int(col.min()) < 0):
                raise EncodeError(CONTENT_TYPE, "qid must be non-negative integers", column=cname)
            qid = col
    if qid is not None and values is None:
        raise EncodeError(CONTENT_TYPE, "a qid needs a label in front of it", column="label['qid']")
    return values, qid


def encode(data: Any, *, index_base: int = 0) -> bytes:
    """Write libsvm rows: the batch's one feature column, its label and qid.

    `data` is a `RecordBatch` (``features`` with one column, dense ``(N, k)`` or CSR;
    ``label["values"]`` and optionally ``label["qid"]``), a scipy sparse matrix or a dense
    array / nested lists (one record per row; a 1-D array is one record). Zeros of a dense
    input are left out; a CSR input is written entry by entry (explicit zeros too), indices
    sorted. Written with `index_base` added to every column.

    >>> import numpy as np, sm_payloads as smp
    >>> X = np.array([[0.5, 0, 0, 2.0], [0, 1.0, 0, 0]], np.float32)
    >>> encode(smp.from_dense(X, y=np.array([1, 0], np.float32)))
    b'1.0 0:0.5 3:2.0\\n0.0 1:1.0\\n'
    """
    if index_base not in (0, 1):
        raise ValueError(f"index_base must be 0 or 1, not {index_base!r}")
    if not isinstance(data, RecordBatch):
        data = from_sparse(data) if sp.issparse(data) else from_dense(data)
    for s in ("uid", "metadata", "configuration"):
        if getattr(data, s) is not None:
            raise EncodeError(CONTENT_TYPE, f"libsvm has no place for {s}", column=s)
    m, cname = _features(data)
    labels, qids = _labels(data)
    n = len(data)
    if n == 0:
        return b""
    indptr = m.indptr.tolist()
    pairs = list(
        map(b":".join, zip(_texts(m.indices.astype(np.int64) + index_base), _texts(m.data), strict=True))
    )
    if labels is None:
        lines = []
        for r in range(n):
            a, b = indptr[r], indptr[r + 1]
            if a == b:
                raise EncodeError(
                    CONTENT_TYPE,
                    f"record {r} has no entries and the batch has no label: libsvm cannot write it "
                    "(an empty line is not a record)",
                    column=cname,
                )
            lines.append(b" ".join(pairs[a:b]))
    else:
        heads = _texts(labels)
        if qids is not None:
            heads = [h + b" qid:" + q for h, q in zip(heads, _texts(qids), strict=True)]
        lines = [b" ".join([heads[r], *pairs[indptr[r] : indptr[r + 1]]]) for r in range(n)]
    lines.append(b"")
    return b"\n".join(lines)


@dataclass(frozen=True, slots=True)
class LibSVMCodec(Codec):
    """The registry's codec for ``text/libsvm`` (and ``text/x-libsvm``): a request format
    only (XGBoost answers in CSV, JSON or protobuf). MIME parameter ``charset`` (UTF-8 or
    ASCII); options ``index_base``, ``num_features``, ``dtype``, ``copy``."""

    content_type: ClassVar[str] = CONTENT_TYPE
    aliases: ClassVar[tuple[str, ...]] = ALIASES
    capabilities: ClassVar[Capabilities] = Capabilities(responses=False, streaming=True)

    index_base: int = 0
    num_features: int | None = None
    dtype: Any = np.float64
    copy: bool = True

    def __post_init__(self) -> None:
        _check_options(self.index_base, self.num_features, self.dtype)

    @classmethod
    def from_params(cls, params: Mapping[str, str], /, **options: Any) -> LibSVMCodec:
        charset = params.get("charset")
        if charset is not None and charset.strip().lower() not in ("utf-8", "utf8", "us-ascii", "ascii"):
            raise UnsupportedMediaTypeError(
                f"{CONTENT_TYPE}; charset={charset}",
                [CONTENT_TYPE, *ALIASES],
                f"unsupported charset {charset!r}",
            )
        return cls._make(**options)

    def encode(self, data: Any, /) -> bytes:
        return encode(data, index_base=self.index_base)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(
            data, index_base=self.index_base, num_features=self.num_features, dtype=self.dtype, copy=self.copy
        )

    def iter_decode(self, source: Any, /, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[RecordBatch]:
        return iter_decode(
            source,
            batch_size=batch_size,
            index_base=self.index_base,
            num_features=self.num_features,
            dtype=self.dtype,
            copy=self.copy,
        )
