"""Numbers as text, fast and exact: the CSV writer's spelling and the CSV reader's parser.

Writing. A float prints as the shortest text that reads back to the same float of its own
dtype, spelled as numpy's ``str()`` spells it (which is what the SageMaker SDK's
``CSVSerializer`` writes, through ``csv.writer``): positional when ``1e-4 <= |x| < 1e16``
(float64) or ``< 1e6`` (float32) or when ``x`` is zero, scientific otherwise
(``1e-05``, ``1.5e+16``), and ``nan``, ``inf``, ``-inf``. Integers print as decimal integers.

Rule 1 (writer): orjson prints the positional range with exactly numpy's digits and layout
(checked by the tests against numpy and the SDK). A block of rows is printed flattened
(``[t0,t1,...]``), the tokens of every other value (NaN, infinities, the scientific range)
are replaced by numpy's own spelling of them (``ndarray.astype("S")``, the same Dragon4 code
as ``str``), and the blocks are joined without their brackets with every k-th comma turned
into a newline: in one C pass (``_cparse.csv_rows``) where the extension is built, else with
numpy.

Reading. `parse_numeric_rows` reads CSV whose fields are numbers into a float64 or float32
matrix. Its numpy kernel is vectorized: each field ``[-]digits[.digits]`` is split at its
dot, the two digit runs are read eight ASCII digits at a time as little-endian 64-bit words
(SWAR), and the value is ``mantissa / 10**frac_digits`` computed in float64.

Rule 2 (exactness): that division is exact-rounded only when the mantissa is below 2**53 and
the power of ten is at most 10**22 (Clinger's fast path: both operands are exact doubles and
IEEE division rounds correctly). Every field outside it (more digits, exponents, ``nan``,
signs other than a leading ``-``, blanks) is read by `parse_number`, which applies the
documented grammar and then Python's correctly rounded ``float()``.
Rule 3: the kernels never raise for bad input; they stop, and the caller's careful reader
finds and reports the problem with its position.
Rule 4 (accelerator): where the optional C extension ``sm_payloads.formats._cparse`` is built,
`read_rows` runs its ``csv_read`` instead of the numpy kernel: one pass over the bytes with
the same grammar, exact numbers (the converter of ``_cnumber.h``) and the same stopping
line. The numpy kernel stays the reference; the tests run both on the same inputs and
compare the bits.
Rule 5 (rows): `parse_numeric_rows` is the CSV reader's fast path. Its kernel `read_rows`
(``_cparse.csv_read``, or the numpy twin) also reads quoted numbers, empty fields (NaN) and
blank lines, into float64 or float32 (rounded once: ``_exact.to_float32`` in numpy), and
stops at the first line it cannot read instead of declining the whole input; that line
goes alone to the caller's careful reader, and reading goes on after it. It reads strictly:
a line with a decimal beyond the range of the output type (``1e400``; ``1e39`` for float32:
text that rounds to infinity, as opposed to the words ``inf`` and ``infinity``) is a line
not read, so the careful reader reports it as the error it is.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson

from .. import _native
from ._exact import to_float32

_C = _native.load("formats._cparse")

__all__ = [
    "NUMBER_RE",
    "format_rows",
    "format_values",
    "parse_number",
    "parse_numeric_rows",
    "read_rows",
]

# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

#: Upper end of numpy's positional range in ``str()``, per float dtype.
_MAX_POSITIONAL: dict[np.dtype[Any], float] = {np.dtype(np.float32): 1e6, np.dtype(np.float64): 1e16}
_ORJSON_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _min_positional(dtype: np.dtype[Any]) -> Any:
    """The smallest value of `dtype` that is at least 1e-4 (exactly, as numpy compares)."""
    t = dtype.type(1e-4)
    if float(t) < 1e-4:  # float32(1e-4) lies below 1e-4: numpy prints it as 1e-04
        t = np.nextafter(t, dtype.type(np.inf))
    return t


_MIN_POSITIONAL = {dt: _min_positional(dt) for dt in _MAX_POSITIONAL}


def _irregular(a: np.ndarray) -> np.ndarray:
    """True where numpy's ``str()`` does not print `a` positionally (or it is not finite)."""
    absa = np.abs(a)
    regular = absa >= _MIN_POSITIONAL[a.dtype]
    regular &= absa < a.dtype.type(_MAX_POSITIONAL[a.dtype])
    regular |= a == 0
    out: np.ndarray = ~regular
    return out


#: Rows formatted per orjson call (about 200,000 values): bounds the temporaries of a block.
_ROWS_PER_BLOCK = 2048
#: Replaced tokens (NaN, infinities, the scientific range) held for one ``csv_rows`` call.
_MAX_GROUP_SUBS = 1 << 16


def format_rows(a: np.ndarray) -> bytes:
    """Rows of a 2-D float32/float64/int32 array as CSV text: ``,`` between fields and
    ``\\n`` between rows, no final newline. The bytes equal ``"\\n".join`` of
    ``csv.writer`` rows of numpy scalars (the SageMaker SDK's ``CSVSerializer``)."""
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("format_rows needs a non-empty 2-D array")
    a = np.ascontiguousarray(a)
    k = a.shape[1]
    step = max(1, _ROWS_PER_BLOCK * 100 // k)
    parts = [a[i : i + step] for i in range(0, a.shape[0], step)]
    if _C is None:
        # numpy: each block rewritten while its text is still in cache
        return b"\n".join([_csv_of_json(*_json_block(part), k) for part in parts])
    # C: one pass over a group of blocks, usually all of them; a group ends once it holds
    # _MAX_GROUP_SUBS replacements, which bounds their Python objects (about 90 bytes each)
    # for arrays full of NaN or large values.
    groups: list[bytes] = []
    texts: list[bytes] = []
    subs: list[_Subs | None] = []
    held = 0
    for i, part in enumerate(parts):
        text, sub = _json_block(part)
        texts.append(text)
        subs.append(sub)
        held += 0 if sub is None else len(sub[0])
        if held >= _MAX_GROUP_SUBS or i == len(parts) - 1:
            out: bytes | None = _C.csv_rows(texts, k, subs)
            if out is None:
                out = b"\n".join([_csv_of_json(t, s, k) for t, s in zip(texts, subs, strict=True)])
            groups.append(out)
            texts, subs, held = [], [], 0
    return groups[0] if len(groups) == 1 else b"\n".join(groups)


#: Value indices of a block and the texts that replace their tokens.
_Subs = tuple[list[int], list[bytes]]


def _json_block(a: np.ndarray) -> tuple[bytes, _Subs | None]:
    """The flattened block as orjson prints it (``[t0,t1,...]``), and the irregular values'
    indices with numpy's spelling of them (None when there are none)."""
    text: bytes = orjson.dumps(a.reshape(-1), option=_ORJSON_NUMPY)
    if a.dtype.kind != "f":
        return text, None
    irregular = _irregular(a).reshape(-1)
    if not irregular.any():
        return text, None
    at = np.flatnonzero(irregular)
    return text, (at.tolist(), a.reshape(-1)[at].astype("S32").tolist())


def _csv_of_json(text: bytes, subs: _Subs | None, k: int) -> bytes:
    """CSV rows from a `_json_block` of rows of `k` values: every k-th comma turned into a
    newline, the tokens of `subs` replaced and the brackets dropped (the numpy twin of
    ``_cparse.csv_rows``)."""
    buf = bytearray(text)
    arr = np.frombuffer(buf, np.uint8)
    commas = np.flatnonzero(arr == 44)
    arr[commas[k - 1 :: k]] = 10
    view = memoryview(buf)
    if subs is None:
        return bytes(view[1:-1])
    at = np.asarray(subs[0], dtype=np.intp)
    # token i spans bounds[i] + 1 .. bounds[i + 1] (bounds: '[', the separators, ']')
    bounds = np.concatenate(([0], commas, [len(buf) - 1]))
    out: list[Any] = []
    pos = 1
    for s, e, spell in zip((bounds[at] + 1).tolist(), bounds[at + 1].tolist(), subs[1], strict=True):
        out.append(view[pos:s])
        out.append(spell)
        pos = e
    out.append(view[pos:-1])
    return b"".join(out)


def format_values(a: np.ndarray) -> list[str]:
    """Each value of a 1-D numeric array in the writer's spelling (for list fields)."""
    if a.size == 0:
        return []
    return format_rows(a.reshape(1, -1)).decode("ascii").split(",")


# --------------------------------------------------------------------------------------
# Reading one number: the grammar
# --------------------------------------------------------------------------------------

#: A number field: optional blanks, an optional sign, then decimal digits with an optional
#: fraction and exponent, or ``nan`` / ``inf`` / ``infinity`` in any case; optional blanks.
NUMBER_RE = re.compile(
    rb"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))[ \t]*"
)


def _is_decimal(field: bytes | bytearray) -> bool:
    """Whether a number field is a decimal, not one of the words nan, inf, infinity."""
    t = bytes(field).strip(b' \t"').lstrip(b"+-")
    return bool(t) and t[0] in b"0123456789."


def parse_number(field: bytes | bytearray) -> float | None:
    """The float64 of one field, or None when it is not a number by the grammar."""
    if NUMBER_RE.fullmatch(field) is None:
        return None
    return float(field)


# --------------------------------------------------------------------------------------
# Reading a block: the vectorized kernel
# --------------------------------------------------------------------------------------

_U64 = np.uint64
_K1, _M1, _S8 = _U64(0x0F0F0F0F0F0F0F0F), _U64(2561), _U64(8)
_K2, _M2, _S16 = _U64(0x00FF00FF00FF00FF), _U64(6553601), _U64(16)
_K3, _M3, _S32 = _U64(0x0000FFFF0000FFFF), _U64(42949672960001), _U64(32)
#: Keep the last n bytes (the highest, little-endian) of a word, n = 0..8.
_KEEP = np.array(
    [0] + [(0xFFFFFFFFFFFFFFFF << (8 * (8 - n))) & 0xFFFFFFFFFFFFFFFF for n in range(1, 9)],
    dtype=np.uint64,
)
_POW10_F = 10.0 ** np.arange(23)
_POW10_U = np.array([10**i for i in range(20)], dtype=np.uint64)
_TWO53 = float(2**53)
#: 10**0 .. 10**16, then their negatives (index b + 17 for a negative field).
_POW10_SIGNED = np.concatenate([10.0 ** np.arange(17), -(10.0 ** np.arange(17))])
#: Sub-chunk size: large enough that numpy's per-call overhead is small, small enough that
#: the temporaries stay in cache and memory stays bounded.
CHUNK = 1 << 17
_NAN = float("nan")
_F32 = np.dtype(np.float32)


def _eight_digits(x: np.ndarray) -> np.ndarray:
    """The value of eight ASCII digits in a little-endian word (first digit lowest);
    zero bytes count as digit 0 (masked-off leading positions)."""
    x = ((x & _K1) * _M1) >> _S8
    x = ((x & _K2) * _M2) >> _S16
    return ((x & _K3) * _M3) >> _S32


def _field_table(
    buf: np.ndarray, events: np.ndarray, nfields: int, open_end: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(ends, dots, has_dot) of every field from the sorted positions of its separators
    and dots; a field with no dot gets its end as its dot. None: a field has two dots."""
    size = buf.size
    is_dot = buf[events] == 46
    if events.size == 2 * nfields - open_end and is_dot[0::2].all() and not is_dot[1::2].any():
        # The common case: one dot in every field, so events alternate dot, separator.
        dots = events[0::2]
        ends = events[1::2]
        if open_end:
            ends = np.append(ends, size)
        return ends, dots, np.ones(nfields, dtype=bool)
    sep_at = np.flatnonzero(~is_dot)
    ends = events[sep_at]
    if open_end:
        ends = np.append(ends, size)
        sep_at = np.append(sep_at, events.size)
    if ends.size != nfields:
        return None
    ndots = np.diff(sep_at, prepend=-1) - 1
    if ndots.size and int(ndots.max()) > 1:
        return None
    has_dot = ndots == 1
    if events.size == 0:
        return ends, ends, has_dot
    dots = np.where(has_dot, events[np.maximum(sep_at - 1, 0)], ends)
    return ends, dots, has_dot


def _parse_chunk(
    chunk: bytes | bytearray, k: int, open_end: bool, out: np.ndarray, strict: bool = False
) -> tuple[np.ndarray, np.ndarray] | None:
    """Parse the whole lines of `chunk` into `out` (rows x k float64, C-contiguous).
    `open_end`: the last line has no newline. An empty field is a missing value (NaN).
    `strict`: a decimal beyond the float64 range (one that reads as infinity) is off too.
    Returns every field's start and end (the text is ``chunk[start:end]``), or None when
    anything is off: the caller falls back."""
    size = len(chunk)
    nfields = out.size
    if size == 0 or nfields == 0:
        return None
    padded = b"\0" * 16 + chunk
    # win[e]: the 16 bytes chunk[e-16:e] as two little-endian words; word[e]: chunk[e-8:e].
    win = np.ndarray(shape=(size + 1,), dtype="<c16", buffer=padded, offset=0, strides=(1,))
    word = np.ndarray(shape=(size + 1,), dtype="<u8", buffer=padded, offset=8, strides=(1,))
    buf = np.frombuffer(chunk, np.uint8)
    c = buf - np.uint8(44)  # ',' 0, '-' 1, '.' 2, '/' 3, digits 4..13
    is_nl = buf == 10
    events = np.flatnonzero((c == 0) | is_nl | (c == 2))
    # Only digits, ',', '.', '-', '\n' (and '\r' before '\n') may appear in fast fields.
    good = c <= 13
    good &= c != 3
    good |= is_nl
    table = _field_table(buf, events, nfields, open_end)
    if table is None:
        return None
    ends, dots, has_dot = table
    # Every k-th field ends a line, and only those.
    got_nl = is_nl[np.minimum(ends, size - 1)]
    if open_end:
        got_nl[-1] = True
    if not got_nl[k - 1 :: k].all() or np.count_nonzero(got_nl) != nfields // k:
        return None
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    special = np.zeros(nfields, dtype=bool)
    n_cr = 0
    if not good.all():
        bad_at = np.flatnonzero(~good)
        crlf = buf[bad_at] == 13
        crlf &= is_nl[np.minimum(bad_at + 1, size - 1)]
        crlf &= bad_at + 1 < size
        n_cr = int(np.count_nonzero(crlf))
        special[np.searchsorted(ends, bad_at[~crlf])] = True
        if special.any():
            # A text body: its first field that is not a number ends the chunk here (the
            # loop at the end would, after vector work over every field).
            i = int(np.argmax(special))
            text = chunk[int(starts[i]) : int(ends[i])]
            if text.endswith(b"\r") and int(ends[i]) < size and chunk[int(ends[i])] == 10:
                text = text[:-1]  # a field that ends its line with "\r\n"
            if parse_number(text) is None:
                return None
        if n_cr:
            ends_cr = ends.copy()
            at_cr = np.searchsorted(ends, bad_at[crlf])  # fields that end in "\r\n"
            ends_cr[at_cr] -= 1
            dots = np.where(has_dot, dots, ends_cr)
            field_end = ends_cr
        else:
            field_end = ends
    else:
        field_end = ends
    neg = buf[np.minimum(starts, size - 1)] == 45
    neg &= starts < field_end
    int_len = dots - starts - neg
    frac_len = field_end - dots - has_dot
    fast = ~special
    fast &= int_len >= 1
    fast &= int_len <= 8
    fast &= frac_len <= 16
    fast &= (frac_len >= 1) | ~has_dot
    fast &= int_len + frac_len <= 19  # the mantissa fits 64 bits
    n_minus = int(np.count_nonzero(c == 1))
    expected = int(np.count_nonzero(neg & ~special))
    if special.any():
        # the '-' inside fields the exact reader checks, in one pass (no '-' is a line end)
        expected += int(np.count_nonzero(special[np.searchsorted(ends, np.flatnonzero(c == 1))]))
    if n_minus != expected:
        # a '-' inside a field: fine only inside fields the exact reader checks anyway
        minus_at = np.flatnonzero(c == 1)
        inner = minus_at[minus_at != starts[np.searchsorted(ends, minus_at)]]
        fast[np.searchsorted(ends, inner)] = False
    a = np.where(fast, int_len, 0)
    b = np.where(fast, frac_len, 0)
    mant = _eight_digits(word[dots] & _KEEP[a]) * _POW10_U[b]
    w = win[field_end].view(np.uint64)
    if int(b.max()) > 8:  # some fractions have more than 8 digits: two words for them
        b1 = np.minimum(b, 8)
        mant += _eight_digits(w[0::2] & _KEEP[b - b1]) * _POW10_U[b1]
    else:
        b1 = b
    mant += _eight_digits(w[1::2] & _KEEP[b1])
    mf = mant.astype(np.float64)
    fast &= mf < _TWO53  # Clinger: the mantissa is an exact double (b <= 16 < 22 always)
    # A negative divisor carries the sign: -(m / 10**b) is m / -10**b, -0.0 included.
    b += neg * 17
    vals = out.reshape(-1)
    np.divide(mf, _POW10_SIGNED[b], out=vals)
    empty = starts == field_end  # missing values, NaN
    if empty.any():
        vals[empty] = _NAN
        fast |= empty
    if not fast.all():
        for i in np.flatnonzero(~fast).tolist():
            text = chunk[int(starts[i]) : int(field_end[i])]
            v = _NAN if not text else parse_number(text)
            if v is None or (strict and math.isinf(v) and _is_decimal(text)):
                return None
            vals[i] = v
    return starts, field_end


def _chunks(data: bytes | bytearray, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """Cut ``data[lo:hi]`` at newlines into pieces of about `CHUNK` bytes: (start, stop, rows)."""
    out = []
    pos = lo
    while pos < hi:
        stop = min(hi, pos + CHUNK)
        if stop < hi:
            nl = data.rfind(b"\n", pos, stop)
            if nl < 0:
                nl = data.find(b"\n", stop, hi)
                stop = hi if nl < 0 else nl + 1
            else:
                stop = nl + 1
        rows = _newlines(data, pos, stop)
        if data[stop - 1 : stop] != b"\n":
            rows += 1
        out.append((pos, stop, rows))
        pos = stop
    return out


#: Inputs above this size are parsed by several threads (numpy releases the GIL).
PARALLEL_MIN = 1 << 22
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _get_pool() -> ThreadPoolExecutor:
    """The worker pool, made on first use and again in a forked child (a pool's threads
    do not survive fork: pre-fork servers such as gunicorn would hang on the old one)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(_threads(), thread_name_prefix="sm_payloads-csv")
            _pool_pid = os.getpid()
        return _pool


@functools.cache
def _threads() -> int:
    """Threads for a large body: the CPUs, at most 4 (asked once: ``os.cpu_count`` reads a
    file of the system each time, several microseconds of a small request)."""
    return max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------------------
# Reading rows: quotes, missing values and float32, with a row-by-row fallback
# --------------------------------------------------------------------------------------

#: The careful reader of one line: ``careful(data, start, stop)`` -> the values of the
#: records of ``data[start:stop]`` ((0 or 1, k) in the output dtype), or None when the
#: careful reader must read the whole region (text, a bad record: it positions the error).
LineReader = Callable[[bytes | bytearray, int, int], np.ndarray | None]


def _newlines(chunk: bytes | bytearray, lo: int = 0, hi: int | None = None) -> int:
    """How many ``\n`` bytes ``chunk[lo:hi]`` holds (numpy counts faster than bytes.count)."""
    hi = len(chunk) if hi is None else hi
    return int(np.count_nonzero(np.frombuffer(chunk, np.uint8, hi - lo, lo) == 10))


def _blank_line_bytes(chunk: bytes) -> np.ndarray:
    """The positions of the bytes of `chunk`'s blank lines (``\n`` or ``\r\n`` alone), as
    the careful reader skips them; empty when there are none."""
    arr = np.frombuffer(chunk, np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.empty_like(nl)
    starts[:1] = 0
    starts[1:] = nl[:-1] + 1
    length = nl - starts
    one = starts[length == 0]
    two = starts[(length == 1) & (arr[np.minimum(starts, arr.size - 1)] == 13)]
    return np.concatenate([one, two, two + 1])


def _drop(chunk: bytes, at: np.ndarray) -> bytes:
    return np.delete(np.frombuffer(chunk, np.uint8), at).tobytes()


def _unquote(chunk: bytes) -> bytes | None:
    """`chunk` with the quotes of its quoted fields removed, when every quote is one of a
    pair that encloses a whole field (the opening one first in it, the closing one before
    ``,``, ``\\r`` or ``\\n`` or at the end) with no ``,`` or ``\\n`` between them; None
    otherwise (a doubled quote, a quote inside a field, a field across lines: the careful
    reader's)."""
    arr = np.frombuffer(chunk, np.uint8)
    q = np.flatnonzero(arr == 34)
    if q.size % 2:
        return None
    size = arr.size
    o, c = q[0::2], q[1::2]
    before = arr[np.maximum(o - 1, 0)]
    ok = (o == 0) | (before == 44) | (before == 10)
    after = arr[np.minimum(c + 1, size - 1)]
    ok &= (c + 1 == size) | (after == 44) | (after == 10) | (after == 13)
    if not ok.all():
        return None
    # (nor a "\r" between them: without its quotes, '"\r"' and a line end would read as an
    # empty field before a "\r\n", where the field is the text "\r")
    seps = np.flatnonzero((arr == 44) | (arr == 10) | (arr == 13))
    if (np.searchsorted(seps, o) != np.searchsorted(seps, c)).any():
        return None
    return np.delete(arr, q).tobytes()


def _try_lines(
    data: bytes | bytearray, a: int, b: int, k: int, out: np.ndarray, row: int, strict: bool = False
) -> int | None:
    """Read all the lines of ``data[a:b]`` into ``out[row:]`` with the vectorized kernel:
    the rows written, or None when some line is not one `read_rows` reads."""
    chunk = bytes(data[a:b])
    open_end = not chunk.endswith(b"\n")
    quoted = b'"' in chunk
    # Blank lines are dropped before the quotes (a line "" is a missing value, not blank).
    # Without quotes and with k > 1 the kernel refuses a blank line itself (a line of one
    # field), so the search waits for a refusal.
    if quoted or k == 1:
        blank = _blank_line_bytes(chunk)
        if blank.size:
            chunk = _drop(chunk, blank)
            if not chunk:
                return 0
    if quoted:
        unquoted = _unquote(chunk)
        if unquoted is None:
            return None
        chunk = unquoted
    got = _parse_lines(chunk, open_end, k, out, row, strict)
    if got is None and not quoted and k > 1:
        blank = _blank_line_bytes(chunk)
        if blank.size:
            chunk = _drop(chunk, blank)
            got = _parse_lines(chunk, open_end, k, out, row, strict) if chunk else 0
    return got


def _parse_lines(
    chunk: bytes, open_end: bool, k: int, out: np.ndarray, row: int, strict: bool = False
) -> int | None:
    """`_try_lines` once blank lines and quotes are gone: the rows written, or None."""
    rows = _newlines(chunk) + open_end
    if rows > out.shape[0] - row:
        return None
    dst = out[row : row + rows]
    if rows == 1 and k > 1 and len(chunk) > _SEGMENT:
        return _parse_long_line(chunk, open_end, k, dst, strict)
    return _parse_block(chunk, open_end, k, dst, strict)


#: A line longer than this is read a segment of whole fields of about this size at a time.
_SEGMENT = 1 << 14


def _parse_long_line(chunk: bytes, open_end: bool, k: int, dst: np.ndarray, strict: bool) -> int | None:
    """One line of `k` fields (`dst` (1, k)), read by `_parse_block` a segment of whole
    fields of about `_SEGMENT` bytes at a time, so that the kernel's temporaries (a few
    dozen bytes per field) stay within a segment's: 1 or None, as `_parse_block`."""
    n = len(chunk)
    col = pos = 0
    while True:
        cut = chunk.find(b",", pos + _SEGMENT) if pos + _SEGMENT < n else -1
        last = cut < 0
        seg = chunk[pos:] if last else chunk[pos:cut]
        width = seg.count(b",") + 1
        if col + width > k:
            return None
        part = np.empty((1, width), dst.dtype)
        if _parse_block(seg, open_end or not last, width, part, strict) != 1:
            return None
        dst[0, col : col + width] = part[0]
        col += width
        if last:
            return 1 if col == k else None
        pos = cut + 1


def _parse_block(chunk: bytes, open_end: bool, k: int, dst: np.ndarray, strict: bool) -> int | None:
    """`_parse_lines` of whole lines that fit `dst` (rows x k): the rows written, or None."""
    rows = int(dst.shape[0])
    f32 = dst.dtype == np.float32
    if not chunk:  # one field, "" (a missing value) with no line end
        if k != 1:
            return None
        dst[0, 0] = _NAN
        return 1
    tmp = np.empty((rows, k), np.float64) if f32 else dst
    table = _parse_chunk(chunk, k, open_end, tmp, strict)
    if table is None:
        return None
    if f32:
        starts, ends = table

        def text_at(i: int) -> bytes:
            return chunk[int(starts[i]) : int(ends[i])].strip(b" \t")

        got = to_float32(tmp.reshape(-1), text_at)
        if strict:
            for i in np.flatnonzero(np.isinf(got)).tolist():
                if _is_decimal(text_at(i)):
                    return None  # beyond the float32 range
        dst[...] = got.reshape(rows, k)
    return rows


def _read_lines(
    data: bytes | bytearray, a: int, b: int, k: int, out: np.ndarray, row: int, strict: bool = False
) -> tuple[int, int]:
    """`read_rows` over ``data[a:b]`` (whole lines): the whole span at once, else its two
    halves, down to the one line that is not read."""
    got = _try_lines(data, a, b, k, out, row, strict)
    if got is not None:
        return b, row + got
    mid = a + (b - a) // 2
    nl = data.rfind(b"\n", a, mid)
    if nl < 0:
        nl = data.find(b"\n", mid, b - 1)
    if nl < 0:
        return a, row  # one line, not read
    pos, row = _read_lines(data, a, nl + 1, k, out, row, strict)
    if pos <= nl:
        return pos, row
    return _read_lines(data, nl + 1, b, k, out, row, strict)


def read_rows(
    data: bytes | bytearray, lo: int, hi: int, k: int, out: np.ndarray, row: int, strict: bool = False
) -> tuple[int, int]:
    """Read the lines of ``data[lo:hi]`` (`lo` a line start) into ``out[row:]`` (rows x k,
    float64 or float32, C-contiguous) for as long as every line is one the kernel reads;
    returns the start of the first line not read (`hi` when all were) and the next row.

    A line the kernel reads: `k` fields with ``,`` between them and ``\\n`` or ``\\r\\n``
    after them (or `hi`), each a number by `NUMBER_RE`, the same inside quotes (``"1.5"``,
    ``" 1.5 "``), or an empty field or ``""`` (a missing value, NaN). Blank lines (``\\n``,
    ``\\r\\n``) are skipped. A line is not read when it is anything else, or when `out` is
    full, or (`strict`) when it holds a decimal beyond the range of `out`'s dtype (one that
    rounds to infinity; the words ``inf`` and ``infinity`` are infinities, not decimals).
    Values are correctly rounded in `out`'s dtype. This is ``_cparse.csv_read``
    where the extension is built, else its numpy twin (vectorized pieces of `CHUNK`
    bytes, halved down to the line that is not read).
    """
    if _C is not None:
        pos, row = _C.csv_read(data, lo, hi, k, out, row, out.dtype == np.float32, strict)
        return int(pos), int(row)
    pos = lo
    while pos < hi:
        stop = min(hi, pos + CHUNK)
        if stop < hi:
            nl = data.find(b"\n", stop - 1, hi)
            stop = hi if nl < 0 else nl + 1
        reached, row = _read_lines(data, pos, stop, k, out, row, strict)
        if reached < stop:
            return reached, row
        pos = stop
    return pos, row


def _pieces(data: bytes | bytearray, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """The pieces `parse_numeric_rows` gives its workers: (start, stop, lines). One per
    thread for the C kernel (one piece below `PARALLEL_MIN`), `_chunks` for numpy."""
    if _C is None:
        return _chunks(data, lo, hi)
    count = _C.count_newlines
    nthreads = _threads()
    cuts = [lo]
    if hi - lo >= PARALLEL_MIN and nthreads > 1:
        for i in range(1, nthreads):
            nl = data.find(b"\n", max(cuts[-1], lo + (hi - lo) * i // nthreads), hi)
            if nl < 0 or nl + 1 >= hi:
                break
            cuts.append(nl + 1)
    cuts.append(hi)
    spans = list(itertools.pairwise(cuts))
    if len(spans) == 1:
        counts = [count(data, lo, hi)]
    else:
        counts = list(_get_pool().map(lambda s: count(data, s[0], s[1]), spans))
    counts[-1] += data[hi - 1] != 10
    return [(s, e, n) for (s, e), n in zip(spans, counts, strict=True)]


def parse_numeric_rows(
    data: bytes | bytearray,
    lo: int,
    hi: int,
    k: int,
    dtype: np.dtype[Any],
    careful: LineReader,
    stopped: list[int] | None = None,
) -> np.ndarray | None:
    """Read ``data[lo:hi]``, whole records of `k` fields, as a (rows, k) float64 or float32
    matrix (`dtype`), values correctly rounded in that type.

    The lines `read_rows` reads go the fast way; each line it stops at goes to `careful`
    alone, whose values take that line's place (none for a blank line), and the fast
    reader goes on after it. None as soon as `careful` returns None (the caller's careful
    reader then reads the whole region and positions any error). Large inputs are read
    by the worker pool in pieces cut at newlines; a piece's stops are handled in order
    after the workers are done. A numeric record never spans lines (a quoted field that
    holds a newline is text), so no piece starts inside one unless the one before stops
    at it, and then `careful` declines. When it returns None and `stopped` is a list, that
    list is set to the position of the line `careful` declined and the records before it.
    """
    if lo >= hi or k < 1:
        return None
    if _C is not None and hi - lo < PARALLEL_MIN:
        # one piece, read here (a request of a few rows pays for nothing else)
        rows = _C.count_newlines(data, lo, hi) + (data[hi - 1] != 10)
        out = np.empty((rows, k), dtype=dtype)
        pos, row = _C.csv_read(data, lo, hi, k, out, 0, dtype == _F32, True)
        if pos == hi:
            return out if row == rows else out[:row]
        pieces = [(lo, hi, rows)]
        reached = [(pos, row)]
        row_at = [0, rows]
        return _finish(data, pieces, row_at, reached, k, out, careful, stopped)
    pieces = _pieces(data, lo, hi)
    row_at = [0]
    for piece in pieces:
        row_at.append(row_at[-1] + piece[2])
    out = np.empty((row_at[-1], k), dtype=dtype)

    def work(i: int) -> tuple[int, int]:
        start, stop, _ = pieces[i]
        return read_rows(data, start, stop, k, out[row_at[i] : row_at[i + 1]], 0, True)

    if hi - lo >= PARALLEL_MIN and _threads() > 1 and len(pieces) > 1:
        reached = list(_get_pool().map(work, range(len(pieces))))
    else:
        reached = [work(i) for i in range(len(pieces))]
    return _finish(data, pieces, row_at, reached, k, out, careful, stopped)


def _finish(
    data: bytes | bytearray,
    pieces: list[tuple[int, int, int]],
    row_at: list[int],
    reached: list[tuple[int, int]],
    k: int,
    out: np.ndarray,
    careful: LineReader,
    stopped: list[int] | None = None,
) -> np.ndarray | None:
    """`parse_numeric_rows` once the pieces were read as far as `reached` says: the lines
    where they stopped go to `careful` in order, the kernel going on after each; then the
    rows of the pieces, packed when a piece got fewer rows than lines."""
    kept: list[np.ndarray] = []
    for i, (pos, row) in enumerate(reached):
        stop = pieces[i][1]
        part = out[row_at[i] : row_at[i + 1]]
        while pos < stop:
            nl = data.find(b"\n", pos, stop)
            end = stop if nl < 0 else nl + 1
            values = careful(data, pos, end)
            if values is None:
                if stopped is not None:
                    stopped[:] = [pos, sum(len(p) for p in kept) + row]
                return None
            part[row : row + len(values)] = values
            row += len(values)
            pos, row = read_rows(data, end, stop, k, part, row, True)
        kept.append(part[:row])
    if all(len(p) == row_at[i + 1] - row_at[i] for i, p in enumerate(kept)):
        return out
    return np.concatenate(kept)
