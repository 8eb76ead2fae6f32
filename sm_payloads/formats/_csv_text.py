"""The ``text/csv`` text grammar, shared by the CSV format and the modules that read or
write CSV-shaped text of their own (`sm_payloads.autopilot`'s container answers,
`sm_payloads.cli`'s diagnostics).

What is here: charset and input handling (`charset_option`, `body_start`; the input buffer
itself is read by `sm_payloads._buffers.as_bytes`), the careful RFC 4180 tokenizer
(`tokenize` into `Record` objects, `field_text`), its fast form for the common text
records (`text_fields`: fields straight to ``str``, or a decline; `text_rows`; both at once
for a block of lists of every field, `text_rows_from`), header lines
(`parse_header`), the vectorized record-end scan that cuts batches (`record_ends`) and
``csv.writer``'s field quoting (`quote_field`). `sm_payloads.formats.csv` turns records into
columns and batches on top of these.

Why a private module with public names, rather than public functions of
`sm_payloads.formats.csv`: that module's public names are the format's user-facing API
(``encode``/``decode``/``iter_decode``... and the registry's codec), and these are parsing
internals whose signatures (byte offsets, line and record counters) follow the decoder's
error positioning, not what a user needs. A helper module gives them one named API inside
the package without widening the library's public surface, and lets other modules (or
another format) share the grammar without importing the CSV format module itself.

Positions: errors are `DecodeError` with the 1-based line, the byte offset from the start
of the input (``base + position`` where a function reads a piece of a larger input) and the
0-based record index.
"""

from __future__ import annotations

import re
from itertools import chain, repeat
from operator import add
from typing import Literal

import numpy as np

from .. import _native
from ..errors import DecodeError

__all__ = [
    "CHARSETS",
    "CONTENT_TYPE",
    "SHARED_ROWS",
    "Record",
    "TextCache",
    "blank_run",
    "body_start",
    "charset_option",
    "field_text",
    "parse_header",
    "quote_field",
    "record_ends",
    "text_cache",
    "text_fields",
    "text_fields_pure",
    "text_rows",
    "text_rows_from",
    "text_rows_from_pure",
    "tokenize",
]

CONTENT_TYPE = "text/csv"

_BOM = b"\xef\xbb\xbf"
#: Accepted ``charset`` values (case-insensitive); us-ascii text is a subset of UTF-8.
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "us-ascii": "ascii", "ascii": "ascii"}


# ======================================================================================
# Charset and input
# ======================================================================================


def charset_option(charset: str) -> str:
    """The Python codec name for a ``charset`` value (`CHARSETS`); ValueError otherwise."""
    try:
        return CHARSETS[charset.strip().lower()]
    except KeyError:
        raise ValueError(
            f"charset {charset!r} is not supported; text/csv is read as utf-8 (with or without "
            "a byte order mark) or us-ascii"
        ) from None


def body_start(data: bytes | bytearray) -> int:
    """Skip a UTF-8 byte order mark; refuse UTF-16/32 ones."""
    if data.startswith(_BOM):
        return 3
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DecodeError(
            CONTENT_TYPE,
            "the body starts with a UTF-16 byte order mark; text/csv is read as utf-8",
            offset=0,
            record_index=0,
            line=1,
        )
    return 0


# ======================================================================================
# Reading: the careful tokenizer (RFC 4180) — the one place that positions errors
# ======================================================================================


def blank_run(data: bytes | bytearray, pos: int, hi: int) -> tuple[int, int]:
    """The blank lines (nothing but an optional ``\r`` before each ``\n``) from `pos`, at
    once: (the position after the last of them, how many); (pos, 0) when there is none.

    The run ends before the first byte that is neither a ``\n`` nor a ``\r`` right before
    one (a stray ``\r`` makes its line a record), found in windows that double from 64
    bytes: time in proportion to the run read, so that a body of blank lines with a stray
    ``\r`` every few lines, read a run at a time, costs time linear in the body."""
    if pos >= hi or data[pos] not in (10, 13):
        return pos, 0
    first = hi  # the first byte that is not part of a blank line
    start, w = pos, 64
    while start < hi:
        stop = min(hi, start + w)
        ext = min(hi, stop + 1)  # one byte more: the "\n" after a "\r" at the window's end
        arr = np.frombuffer(data, np.uint8, ext - start, start)
        part = arr[: stop - start]
        ok = part == 10
        ok[: ext - start - 1] |= (part[: ext - start - 1] == 13) & (arr[1:] == 10)
        bad = np.flatnonzero(~ok)
        if bad.size:
            first = start + int(bad[0])
            break
        start, w = stop, w * 2
    end = data.rfind(b"\n", pos, first) + 1
    if end <= pos:
        return pos, 0
    return end, data.count(b"\n", pos, end)


class Record:
    """One record: its fields (raw bytes, quotes removed), their byte offsets, whether each
    was quoted, its line.

    A record without quotes keeps only its first field's offset (`start`): `offsets` and
    `quoted` are worked out when asked for (errors ask), so that a record costs its fields
    and little more."""

    __slots__ = ("_offsets", "_quoted", "end", "fields", "line", "start")

    def __init__(self, line: int, start: int = 0) -> None:
        self.line = line
        self.fields: list[bytes] = []
        self._offsets: list[int] | None = None
        self._quoted: list[bool] | None = None
        self.start = start
        self.end = 0

    @property
    def offsets(self) -> list[int]:
        """The byte offset of each field (of its opening quote when quoted)."""
        if self._offsets is None:
            at = self.start
            out = []
            for f in self.fields:
                out.append(at)
                at += len(f) + 1
            return out
        return self._offsets

    @property
    def quoted(self) -> list[bool]:
        """Whether each field was quoted."""
        return [False] * len(self.fields) if self._quoted is None else self._quoted


def tokenize(
    data: bytes | bytearray, lo: int, hi: int, line: int, base: int, rec0: int
) -> tuple[list[Record], int]:
    """All non-blank records of ``data[lo:hi]``; returns them and the next line number.

    `line` is the number of the line at `lo`; offsets in errors are ``base + position``.
    """
    recs: list[Record] = []
    pos = lo
    while pos < hi:
        nl = data.find(b"\n", pos, hi)
        stop = hi if nl < 0 else nl
        seg_end = stop - 1 if stop > pos and data[stop - 1] == 13 else stop
        if seg_end == pos:  # a blank line, and the blank lines right after it at once
            run_end, run_lines = blank_run(data, pos, hi)
            pos = max(run_end, stop + 1)
            line += max(run_lines, 1)
            continue
        rec = Record(line, base + pos)
        if data.find(b'"', pos, stop) < 0:
            rec.fields = bytes(data[pos:seg_end]).split(b",")
            rec.end = base + seg_end
            pos = stop + 1
            line += 1
        else:
            pos, line = _quoted_record(data, pos, hi, line, base, rec, rec0 + len(recs))
        recs.append(rec)
    return recs, line


def _quoted_record(
    data: bytes | bytearray, pos: int, hi: int, line: int, base: int, rec: Record, index: int
) -> tuple[int, int]:
    """Read one record that contains quotes; returns the position after it and the next line."""

    def fail(reason: str, at: int, at_line: int) -> DecodeError:
        return DecodeError(CONTENT_TYPE, reason, offset=base + at, record_index=index, line=at_line)

    offsets: list[int] = []
    quoted: list[bool] = []
    rec._offsets = offsets
    rec._quoted = quoted

    while True:
        start = pos
        if pos < hi and data[pos] == 34:  # a quoted field
            open_line = line
            parts = []
            pos += 1
            while True:
                q = data.find(b'"', pos, hi)
                if q < 0:
                    raise fail("unterminated quoted field (no closing '\"')", start, open_line)
                chunk = data[pos:q]
                line += chunk.count(b"\n")
                parts.append(chunk)
                if q + 1 < hi and data[q + 1] == 34:  # "" is one quote
                    parts.append(b'"')
                    pos = q + 2
                    continue
                pos = q + 1
                break
            rec.fields.append(b"".join(parts))
            offsets.append(base + start)
            quoted.append(True)
            nxt = data[pos : pos + 1]
            if nxt == b"\r" and data[pos + 1 : pos + 2] in (b"\n", b""):
                pos += 1
                nxt = data[pos : pos + 1]
            if nxt == b",":
                pos += 1
                continue
            if nxt in (b"\n", b""):
                rec.end = base + pos
                return pos + 1, line + 1
            raise fail(
                f"unexpected {data[pos : pos + 1].decode('latin-1')!r} after a closing quote "
                "(expected ',' or the end of the line)",
                pos,
                line,
            )
        # an unquoted field: up to the next ',' or line end; no quote may appear in it
        comma = data.find(b",", pos, hi)
        nl = data.find(b"\n", pos, hi)
        stop = hi if nl < 0 else nl
        end = stop if comma < 0 or comma > stop else comma
        field_end = end - 1 if end == stop and end > pos and data[end - 1] == 13 else end
        field = bytes(data[pos:field_end])
        quote = field.find(b'"')
        if quote >= 0:
            raise fail("a '\"' inside an unquoted field (quote the whole field)", pos + quote, line)
        rec.fields.append(field)
        offsets.append(base + start)
        quoted.append(False)
        if end == comma:
            pos = comma + 1
            continue
        rec.end = base + field_end
        return stop + 1, line + 1


def field_text(field: bytes, charset: str, offset: int, line: int, index: int) -> str:
    """A field's bytes as text in `charset`; undecodable bytes are a `DecodeError` at
    ``offset`` (the field's) plus the bad byte's place in it, on `line`, record `index`."""
    try:
        return field.decode(charset)
    except UnicodeDecodeError as e:
        raise DecodeError(
            CONTENT_TYPE,
            f"bytes that are not {charset} text ({field[e.start : e.start + 4]!r}...)",
            offset=offset + e.start,
            record_index=index,
            line=line,
        ) from None


def parse_header(data: bytes | bytearray, lo: int, charset: str) -> tuple[tuple[str, ...], int, int]:
    """The header's names, the position after it, and the line after it (`lo`: where
    the body starts, after `body_start`; blank lines before the header are skipped)."""
    hi = len(data)
    pos, line = lo, 1
    while pos < hi:  # skip blank lines before the header
        nl = data.find(b"\n", pos)
        stop = hi if nl < 0 else nl
        if data[pos:stop].strip(b"\r"):
            break
        pos, line = stop + 1, line + 1
    if pos >= hi:
        return (), hi, line
    rec = Record(line)
    if data.find(b'"', pos, data.find(b"\n", pos) if data.find(b"\n", pos) >= 0 else hi) < 0:
        nl = data.find(b"\n", pos)
        stop = hi if nl < 0 else nl
        end = stop - 1 if stop > pos and data[stop - 1] == 13 else stop
        names = tuple(field_text(f, charset, pos, line, 0) for f in bytes(data[pos:end]).split(b","))
        return names, stop + 1, line + 1
    nxt, nline = _quoted_record(data, pos, hi, line, 0, rec, 0)
    names = tuple(field_text(f, charset, o, line, 0) for f, o in zip(rec.fields, rec.offsets, strict=True))
    return names, nxt, nline


# ======================================================================================
# Reading: text records straight to columns (the common case, or a decline)
# ======================================================================================

#: The optional C kernel (``_cparse.csv_text``, ``_cparse.text_rows``,
#: ``_cparse.csv_text_rows``); None: the twins.
_C = _native.load("formats._cparse")

#: A field and the separator after it, as `findall` tuples (the opening quote or "", the
#: text inside the quotes, the unquoted text, the separator): a quoted field (any text up
#: to the closing quote, ``""`` standing for one quote, line ends included) or an unquoted
#: one (up to a ``,``, a quote or a line end), then ``,``, a line end, the end of the text,
#: or nothing (then the next character is no separator: the piece is declined). The
#: separator can always match, so a field is never matched again shorter: every character
#: is read a bounded number of times.
_TOKEN = re.compile(r'(?:(")([^"]*(?:""[^"]*)*)"|([^,"\r\n]*))(,|\r?\n|\Z|)')
_BLANK_LINES = (("", "", "", "\n"), ("", "", "", "\r\n"))
_LAST = ("", "", "", "")


#: One field of `_TOKEN` without its separator.
_FIELD_GROUPS = r'(?:(")([^"]*(?:""[^"]*)*)"|([^,"\r\n]*))'
#: Records of 2 to `_RECORD_MOST` fields read by one match each (`_record_pattern`).
_RECORD_MOST = 8
_RECORDS: dict[int, re.Pattern[str]] = {}


def _record_pattern(width: int) -> re.Pattern[str]:
    """A record of `width` fields and its line end, `_TOKEN`'s groups for each field, an
    optional ``,`` group between them, then the separator group: one `findall` match a
    record, not one a field. Every separator may be missing, so that a match never fails
    and is never tried again shorter (a required ``,`` after a long field would be looked
    for after every shorter one, at every start: quadratic); the caller checks them."""
    got = _RECORDS.get(width)
    if got is None:
        got = _RECORDS[width] = re.compile("(,?)".join([_FIELD_GROUPS] * width) + r"(\r?\n|\Z|)")
    return got


def _whole_records(text: str, width: int) -> list[str] | None:
    """`_quoted_records` by one match a record (2 to `_RECORD_MOST` fields), when every
    record of `text` is `width` fields followed by a line end (the last one maybe by the
    end of the text) and no line is blank: the matches then cover the text, every field
    but the last of a match is followed by ``,``, and only the last match ends without a
    line end. None for any other text (the caller reads it field by field, which also
    tells a bad record from blank lines)."""
    matches = _record_pattern(width).findall(text)
    if matches and not any(matches[-1]):  # (findall's empty match at the end of the text)
        matches.pop()
    if not matches:
        return None
    cols = list(zip(*matches, strict=True))  # field j: 4j, 4j + 1, 4j + 2; "," before it 4j - 1
    n, seps = len(matches), cols[-1]
    if any(cols[4 * j - 1].count(",") != n for j in range(1, width)) or "" in seps[:-1]:
        return None
    covered = len("".join(seps)) + (width - 1) * n
    for j in range(width):
        covered += 2 * cols[4 * j].count('"') + len("".join(cols[4 * j + 1])) + len("".join(cols[4 * j + 2]))
    if covered != len(text):
        return None
    fields = [list(map(add, cols[4 * j + 1], cols[4 * j + 2])) for j in range(width)]
    if any('"' in "".join(cols[4 * j + 1]) for j in range(width)):  # "" stands for one quote
        fields = [list(map(str.replace, f, repeat('""'), repeat('"'))) for f in fields]
    return list(chain.from_iterable(zip(*fields, strict=True)))


def _quoted_records(text: str, width: int) -> list[str] | None:
    """The fields of `text` (holding a quote), record after record, as `tokenize` reads
    them; None where the C kernel declines (see `text_fields_pure`).

    One `findall` reads every field and separator of the piece, and the checks are on
    the lists it gives (their loops run in C): the fields cover the text (no character
    skipped: a quote inside an unquoted field, a quote not closed, a ``\r`` outside quotes
    that does not end a line), nothing follows a field but a separator, and every record
    has `width` fields; blank lines (an empty unquoted field and a line end, at the start
    of a record) are dropped first."""
    if 2 <= width <= _RECORD_MOST:
        whole = _whole_records(text, width)
        if whole is not None:
            return whole
    tokens = _TOKEN.findall(text)
    # (findall ends with an empty match at the end of the text: a field only after a ",")
    if tokens and tokens[-1] == _LAST and (len(tokens) == 1 or tokens[-2][3] != ","):
        tokens.pop()
    if not tokens:  # (the empty text)
        return []
    quotes, inside, bare, seps = zip(*tokens, strict=True)
    joined = "".join(inside)
    covered = len(joined) + len("".join(bare)) + len("".join(seps)) + 2 * quotes.count('"')
    if covered != len(text) or "" in seps[:-1]:
        return None
    # (a blank line is a line end at the start of the text or right after another one)
    maybe_blank = text.startswith(("\n", "\r\n")) or "\n\n" in text or "\n\r\n" in text
    if maybe_blank and (tokens.count(_BLANK_LINES[0]) or tokens.count(_BLANK_LINES[1])):
        # blank lines: empty unquoted fields with a line end at the start of a record
        kept = []
        start = True
        for t in tokens:
            if not (start and t in _BLANK_LINES):
                kept.append(t)
            start = t[3] != ","
        if not kept:
            return []
        quotes, inside, bare, seps = zip(*kept, strict=True)
    n = len(seps)
    if n % width or seps[width - 1 :: width].count(",") or seps.count(",") != n - n // width:
        return None  # a record of another width
    if '"' in joined:  # "" stands for one quote
        inside = tuple(map(str.replace, inside, repeat('""'), repeat('"')))
    return list(map(add, inside, bare))  # (one of the two is empty)


#: A cache of the short texts of a region, shared by the `text_fields` calls over its
#: pieces (`text_cache`): slots of str for the C kernel, a dict for the twin.
TextCache = list[str | None] | dict[str, str]

#: The twin's cache holds at most this many texts (then it only looks texts up).
_CACHE_MOST = 1 << 16


def text_cache(nbytes: int) -> TextCache:
    """A new cache of short texts for the `text_fields` calls over the pieces of a region
    of `nbytes` bytes: the same short text in any of them is one ``str`` object. The C
    kernel's is a list of a power of two slots, 1,024 to 65,536 (one per 16 bytes of the
    region), each the last text of 2 to 16 bytes whose hash fell there; the twin's a dict
    of at most `_CACHE_MOST` texts of its pieces of short fields."""
    if _C is not None:
        slots = 1 << max(10, min(16, (max(nbytes, 1) // 16).bit_length()))
        return [None] * slots
    return {}


def _shared_texts(fields: list[str], nbytes: int, cache: dict[str, str]) -> list[str]:
    """`fields` (of a piece of `nbytes` bytes) with each text replaced by the equal one of
    `cache`, where the fields are short (under 8 bytes each on average: a str of its own
    would be most of a record's memory); texts not in it yet are added while it holds
    fewer than `_CACHE_MOST`."""
    if nbytes >= 8 * len(fields):
        return fields
    if len(cache) < _CACHE_MOST:
        return list(map(cache.setdefault, fields, fields))
    return list(map(cache.get, fields, fields))


#: Every byte but "," and "\n" (`_plain_records` keeps the separators of a piece).
_NOT_SEPARATORS = bytes(b for b in range(256) if b not in b",\n")


def _plain_records(piece: bytes, text: str, width: int) -> list[str] | None:
    """The fields of `text` (`piece` decoded; no quote in it) when it is records of `width`
    fields with ``\n`` line ends and nothing else: no ``\r``, no blank line. Its separators
    alone (``piece.translate``) are then ``width - 1`` commas and a line end, again and again,
    and the fields are those of the text split at every separator at once. None for any
    other text, which `text_fields_pure` reads line by line."""
    if not text or "\r" in text:
        return None
    terminated = text.endswith("\n")
    body = text[:-1] if terminated else text
    if width == 1:  # no comma, and no empty line (a blank line is no record)
        if not body or "," in body or "\n\n" in body or body.startswith("\n") or body.endswith("\n"):
            return None
        return body.split("\n")
    seps = piece.translate(None, _NOT_SEPARATORS)
    line = b"," * (width - 1) + b"\n"
    k = (len(seps) + (0 if terminated else 1)) // len(line)
    if seps != (line * k if terminated else line * (k - 1) + line[:-1]):
        return None  # another width, or blank lines
    return body.replace("\n", ",").split(",")


def text_fields_pure(
    data: bytes | bytearray, lo: int, hi: int, width: int, ascii: bool, cache: TextCache | None = None
) -> list[str] | None:
    """The twin of ``_cparse.csv_text``: the fields of the records of ``data[lo:hi]`` (lo a
    line start, hi a record end) as text, in one list, record after record (the field j of
    record i at ``i * width + j``), when every record is `width` fields that `tokenize`
    reads without a problem: ``,`` between fields, quoted fields holding any text up to the
    closing quote, line ends included (``""`` is one quote), ``\n`` or ``\r\n`` after each
    record, blank lines skipped, the text us-ascii (`ascii`) or UTF-8. None (declined)
    otherwise, and also for a ``\r`` outside quotes anywhere but right before a ``\n``:
    the careful reader (`tokenize`) then reads the records and positions errors. The values
    are those `tokenize` and `field_text` give. `cache` (a dict: `text_cache`): short texts
    equal to one of an earlier piece are that ``str`` (`_shared_texts`)."""
    if width < 1 or lo < 0 or hi > len(data) or lo > hi:
        raise ValueError("csv_text: bad bounds or width")
    piece = bytes(data[lo:hi])
    try:
        text = piece.decode("ascii" if ascii else "utf-8")
    except UnicodeDecodeError:
        return None  # (only field bytes can be undecodable: the separators are ascii)
    if '"' in text:
        got = _quoted_records(text, width)
        return got if got is None or not isinstance(cache, dict) else _shared_texts(got, hi - lo, cache)
    plain = _plain_records(piece, text, width)
    if plain is not None:
        # (the fields' characters: the text but a separator after each field, the last
        # one's when the text ends without a line end; all of them one ASCII character,
        # the fields are already the interpreter's one str of each: nothing to share)
        chars = len(text) - len(plain) + (not text.endswith("\n"))
        if isinstance(cache, dict) and not (chars == len(plain) and text.isascii() and "" not in plain):
            plain = _shared_texts(plain, hi - lo, cache)
        return plain
    lines = text.split("\n")
    terminated = text.endswith("\n")
    if terminated:
        lines.pop()
    if "\r" in text:
        last = len(lines) - 1
        for i, line in enumerate(lines):
            if line.endswith("\r"):
                if i == last and not terminated:
                    return None  # a "\r" that ends the region, not a line
                line = lines[i] = line[:-1]
            if "\r" in line:
                return None
    if "" in lines:
        lines = [line for line in lines if line]  # blank lines
    if width == 1:
        if "," in text:
            return None
        out = lines
    elif not lines:
        out = []
    else:  # every line width - 1 commas: the fields are those of all lines split at once
        if list(map(str.count, lines, repeat(","))).count(width - 1) != len(lines):
            return None
        out = ",".join(lines).split(",")
    return out if not isinstance(cache, dict) else _shared_texts(out, hi - lo, cache)


def text_fields(
    data: bytes | bytearray, lo: int, hi: int, width: int, ascii: bool, cache: TextCache | None = None
) -> list[str] | None:
    """`text_fields_pure`, by the C kernel where it is built (`cache`: `text_cache`)."""
    if _C is not None:
        out: list[str] | None = _C.csv_text(
            data, lo, hi, width, ascii, cache if isinstance(cache, list) else None
        )
        return out
    return text_fields_pure(data, lo, hi, width, ascii, cache)


#: The lists rows share (`text_rows`): one slot per ASCII character (one-field rows of that
#: text), and one more (`_SHARED_EMPTY`) for rows whose texts are all empty.
SHARED_ROWS = 129
_SHARED_EMPTY = 128
_ASCII = [chr(i) for i in range(_SHARED_EMPTY)]


def text_rows(
    fields: list[str],
    width: int,
    start: int,
    stop: int,
    out: np.ndarray | None = None,
    shared: list[list[str] | None] | None = None,
) -> np.ndarray:
    """An object array of one list per record, ``fields[i * width + start : i * width +
    stop]`` (`fields`: `text_fields`' records of `width` fields), into `out` (an object
    array of the n records' slots) or a new array. The C kernel builds lists that the
    cyclic garbage collector does not track (lists of str cannot be in a cycle; millions of
    tracked lists make every collection walk them), the twin plain lists: the same values.

    `shared` (`SHARED_ROWS` slots, None or the list made for that character): one-field
    rows (``stop - start == 1``) whose text is one ASCII character take the list of that
    character, made once, so that the records of one character share one list (a
    one-character record is two bytes: a list of its own would be 72), and rows of any
    number of fields that are all empty take the list of the last slot (``,`` and a line
    end, two bytes, would be a list of two of 80). The slots of the characters seen are
    filled in (the twin fills all of the characters' slots when a text is at most one
    character, and the last slot always); a slot that holds anything but the one-item list
    of its character (the last: ``stop - start`` exact empty str) gets a new one."""
    n = len(fields) // width
    if out is None:
        out = np.empty(n, dtype=object)
    elif out.shape != (n,) or out.dtype != object:
        raise ValueError("text_rows: out must be an object array of one slot per record")
    if shared is not None and len(shared) != SHARED_ROWS:
        raise ValueError(f"text_rows: shared must be a list of {SHARED_ROWS} slots")
    if n == 0:
        return out
    if _C is not None:
        _C.text_rows(fields, width, start, stop, out, shared)
        return out
    _text_rows_pure(fields, width, start, stop, out, shared)
    return out


def _text_rows_pure(
    fields: list[str],
    width: int,
    start: int,
    stop: int,
    out: np.ndarray,
    shared: list[list[str] | None] | None,
) -> None:
    """The twin of ``_cparse.text_rows`` (`text_rows` checked the arguments)."""
    k = stop - start
    blank: list[str] | None = None  # the row of k empty texts that records share
    if shared is not None:
        # (as the kernel: a slot that holds anything but its row gets a new one)
        blank = shared[_SHARED_EMPTY]
        if not (type(blank) is list and blank == [""] * k and all(type(t) is str for t in blank)):
            blank = shared[_SHARED_EMPTY] = [""] * k
    # (the lists are made by map and zip, whose loops run in C: a list comprehension that
    # slices the fields costs about twice as much a record)
    rows: list[list[str] | None]
    if k == 1:
        col = fields[start::width] if width > 1 else fields
        if shared is None:
            rows = list(map(list, zip(col)))
        else:
            shared[:_SHARED_EMPTY] = [
                row if type(row) is list and row == [ch] else [ch]
                for row, ch in zip(shared[:_SHARED_EMPTY], _ASCII, strict=True)
            ]
            get = dict(zip([*_ASCII, ""], shared, strict=True)).get
            rows = list(map(get, col))  # the shared lists; None for a record of its own
            if not any(rows):  # no record shares a list
                rows = list(map(list, zip(col)))
            elif not all(rows):
                rows = [row or [s] for row, s in zip(rows, col, strict=True)]
    else:
        if start == 0 and stop == width:  # every field: the rows are runs of k fields
            rows = list(map(list, zip(*[iter(fields)] * k, strict=True)))
        else:
            rows = list(map(list, zip(*[fields[start + j :: width] for j in range(k)], strict=True)))
        if blank is not None and blank in rows:
            rows = [blank if row == blank else row for row in rows]
    # (np.fromiter takes each list as one object; an assignment of the list of lists
    # looks into every list for a dimension, about 45 ns a record)
    out[:] = np.fromiter(rows, dtype=object, count=len(rows))


def text_rows_from_pure(
    data: bytes | bytearray,
    lo: int,
    hi: int,
    width: int,
    ascii: bool,
    cache: TextCache | None,
    out: np.ndarray,
    at: int,
    shared: list[list[str] | None] | None,
) -> tuple[int, int] | None:
    """The twin of ``_cparse.csv_text_rows``: `text_fields_pure` and `text_rows` in one
    call, for a block of lists of every field. The n records of ``data[lo:hi]`` become the
    lists ``text_rows(fields, width, 0, width, ...)`` makes, in ``out[at : at + n]`` (an
    object array whose slots from `at` hold None; `shared`: None, or `SHARED_ROWS` slots
    that hold None or lists of str); returns n and the ``\n`` bytes of
    ``data[lo:hi]`` (the lines the careful reader counts there, but a last one without a
    line end), or None (declined, `out` as it was) where `text_fields_pure` declines or
    `out` has fewer than n slots from `at`."""
    if out.ndim != 1 or out.dtype != object or not 0 <= at <= len(out):
        raise ValueError("csv_text_rows: out must be an object array and 0 <= at <= its length")
    if shared is not None and len(shared) != SHARED_ROWS:
        raise ValueError(f"csv_text_rows: shared must be None or a list of {SHARED_ROWS} slots")
    fields = text_fields_pure(data, lo, hi, width, ascii, cache)
    if fields is None:
        return None
    n = len(fields) // width
    if n > len(out) - at:
        return None
    if shared is not None and not all(
        row is None or (type(row) is list and all(type(t) is str for t in row)) for row in shared
    ):  # (as the kernel, which checks them once it has read the records)
        raise ValueError("csv_text_rows: the slots of shared must hold None or lists of str")
    if n:
        _text_rows_pure(fields, width, 0, width, out[at : at + n], shared)
    return n, data.count(b"\n", lo, hi)


def text_rows_from(
    data: bytes | bytearray,
    lo: int,
    hi: int,
    width: int,
    ascii: bool,
    cache: TextCache | None,
    out: np.ndarray,
    at: int,
    shared: list[list[str] | None] | None,
) -> tuple[int, int] | None:
    """`text_rows_from_pure`, by the C kernel where it is built (``_cparse.csv_text_rows``:
    one pass from the bytes to the lists, without the list of every field's str between
    them; `cache`: `text_cache`)."""
    if _C is not None:
        got: tuple[int, int] | None = _C.csv_text_rows(
            data, lo, hi, width, ascii, cache if isinstance(cache, list) else None, out, at, shared
        )
        return got
    return text_rows_from_pure(data, lo, hi, width, ascii, cache, out, at, shared)


# ======================================================================================
# Reading: record ends (cutting batches)
# ======================================================================================


_SCAN_FIRST = 1 << 16
_SCAN_MAX = 1 << 24


def record_ends(data: bytes | bytearray, pos: int, hi: int, want: int, final: bool) -> tuple[int, int, int]:
    """Scan at most `want` non-blank records from `pos`: (stop, records, lines).

    A newline ends a record when the quotes before it (from `pos`) are even in number
    (RFC 4180: a quoted field may hold newlines, and ``""`` inside one is an even pair).
    Blank lines (nothing but an optional ``\r`` before the newline) are skipped but counted
    in `lines`. Records that continue past `hi` are left for later unless `final`, when the
    tail is one more record (an unterminated quote included, so that the decoder reports it).

    The scan is vectorized over windows that double from 64 KiB to 16 MiB, so finding a
    batch costs a few numpy passes over its bytes and never reads far past it.
    """
    if want <= 0:
        return pos, 0, 0
    records = lines = 0
    stop = pos  # the end of the last whole record (or blank line) taken
    parity = 0  # quotes seen since `pos`, mod 2
    open_lines = 0  # newlines already seen inside the record that starts at `stop`
    w = pos
    step = _SCAN_FIRST
    while w < hi:
        end = min(hi, w + step)
        step = min(step * 2, _SCAN_MAX)
        arr = np.frombuffer(data, np.uint8, end - w, w)
        nls = np.flatnonzero(arr == 10)
        ends_idx: np.ndarray | None
        if data.find(b'"', w, end) >= 0:
            quotes = np.flatnonzero(arr == 34)
            at_end = ((np.searchsorted(quotes, nls) + parity) & 1) == 0
            parity = (parity + len(quotes)) & 1
            ends_idx = np.flatnonzero(at_end)
        else:
            ends_idx = None if parity == 0 else np.empty(0, np.intp)
        ends = nls if ends_idx is None else nls[ends_idx]
        if len(ends) == 0:
            open_lines += len(nls)
            w = end
            continue
        ends = ends + w  # absolute positions of the record-ending newlines
        if ends_idx is None:
            per_lines = np.ones(len(ends), np.intp)
            per_lines[0] += open_lines
            tail_lines = 0
        else:
            per_lines = np.diff(ends_idx, prepend=-1 - open_lines)
            tail_lines = len(nls) - 1 - int(ends_idx[-1])
        starts = np.empty_like(ends)
        starts[0] = stop
        starts[1:] = ends[:-1] + 1
        length = ends - starts
        # Blank as the tokenizer sees it: nothing before the newline but one optional "\r".
        blank = length == 0
        maybe = np.flatnonzero((length == 1) & (per_lines == 1))
        if len(maybe):
            blank[maybe] = np.frombuffer(data, np.uint8, hi - pos, pos)[starts[maybe] - pos] == 13
        taken = np.cumsum(~blank)
        if records + int(taken[-1]) >= want:
            k = int(np.searchsorted(taken, want - records))  # the record that completes the batch
            return int(ends[k]) + 1, want, lines + int(per_lines[: k + 1].sum())
        records += int(taken[-1])
        lines += int(per_lines.sum())
        stop = int(ends[-1]) + 1
        open_lines = tail_lines
        w = end
    if final and stop < hi:
        # The tail after the last record end: one more record unless it is blank.
        tail = data[stop:hi]
        if parity or tail not in (b"", b"\r"):
            records += 1
        lines += open_lines + (0 if tail.endswith(b"\n") else 1)
        stop = hi
    return stop, records, lines


# ======================================================================================
# Writing
# ======================================================================================


def quote_field(field: str, alone: bool = False, *, lineterminator: Literal["\r\n", "\n"] = "\r\n") -> str:
    """A text field as ``csv.writer(lineterminator=lineterminator)`` writes it (QUOTE_MINIMAL):
    quoted, with ``"`` doubled, when it holds the delimiter ``,``, the quote ``"`` or a
    character of the line terminator (so with ``"\\n"`` a ``\\r`` is written bare), or when
    it is empty and `alone` (the only field of its row)."""
    if (
        "," in field
        or '"' in field
        or "\n" in field
        or ("\r" in field and lineterminator == "\r\n")
        or (alone and not field)
    ):
        return '"' + field.replace('"', '""') + '"'
    return field
