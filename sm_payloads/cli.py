"""The ``sm-payloads`` command line (also ``python -m sm_payloads``): convert, inspect,
validate and split payload files of every registered format.

Rule 1 (types): a file's type is its media type, parameters included
(``text/csv;label_size=1``), given with ``--from`` / ``--to`` / ``--type`` or inferred from
the extension (`EXTENSIONS`). ``-`` is stdin / stdout (binary) and always needs the flag.
Rule 2 (streaming): an input whose codec streams (CSV, JSON Lines,
RecordIO-protobuf; libsvm when ``--num-features`` fixes its width) is read in batches of
``--batch-size`` records; each batch is encoded and appended to the output when the output
format concatenates (RecordIO-protobuf, JSON Lines, CSV, libsvm). JSON and npy outputs are
one document each, so their batches are collected and written once: memory then holds the
whole dataset. Whole-document inputs (JSON, npy) are read whole.
Rule 3 (values): numbers are never rounded: binary formats keep their dtype, text formats
print the shortest text that reads back to the same value of its dtype, and ``--dtype``
reads text numbers back as that dtype (float32 → CSV → ``--dtype float32`` is bit-exact).
Sparse columns are densified (without loss) for the dense-only outputs, CSV and npy.
Rule 4 (errors): bad input is one line ``sm-payloads: error: ...`` on stderr and exit 1
(a `PayloadError`, a file that cannot be opened or is a directory), with the position in
the whole input (a record index counts from the start of the input, whatever
``--batch-size``); a bad command line is exit 2 (argparse's usage message, or one
``sm-payloads: error:`` line for a type that cannot be resolved). The library's hints that
name a keyword argument name the flag instead (``--allow-nan``). Never a traceback for bad
input. A file output (a symbolic link's target) is written to a temporary file beside it
and renamed on success, so a failed convert leaves no partial file, Ctrl-C (exit 130) and
SIGTERM (exit 143) included; stdout and an existing FIFO, device or socket are written
directly (streamed), so a failure midway leaves the batches already written there (exit 1).
Every write completes or fails: a short write is completed, a failed one (a full disk, a
closed pipe) is one ``cannot write ...`` line and exit 1, and the summary is printed only
after the output was flushed. A closed stdin or stdout is one line and exit 1.
Rule 5 (text): a CSV block (label or features) with a field that is not a number is read as
text. Without ``--dtype`` and ``--allow-text``, `validate` reports it as invalid and
`convert` refuses to write it to RecordIO-protobuf (read as numbers) and warns for CSV,
JSON and JSON Lines, naming the first such field (line, column, value). npy and libsvm
hold numbers only: `convert` refuses text for them, ``--allow-text`` or not.
Rule 7 (Arrow files): Parquet (``.parquet``, ``--from/--to parquet``) and Arrow IPC
(``.arrow``, ``.feather``, ``--from/--to arrow``; the file or the stream format, both read
as a stream on stdin) are read with pyarrow row group by row group / record batch, in batches of at most
``--batch-size`` records (`arrow.from_arrow`: ``--label`` names the label columns of a
table of numbers, ``--dtype`` converts its numbers), and written batch by batch
(`RecordBatch.to_arrow`: ``features.values``, ``label.values``... columns; a Parquet row
group per batch), so memory holds one batch (and a Parquet read buffer per column) at a time. Every
batch written must have the first one's columns, or the conversion fails naming the record.
An input of no records gives a Parquet or Arrow output of no rows with its columns; a column
of records with no values (a fixed-size list of size 0) is refused for Parquet, whose files
pyarrow cannot read back then.
Rule 6 (feedback): `convert` prints one summary line on stderr (records, bytes in and out,
seconds, output) unless ``-q``. A progress bar by bytes read is drawn on stderr only when
stderr is a terminal, not ``-q``, and the input is at least 4 MiB (or of unknown size and
4 MiB have been read); it is erased when the input is done.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import gc
import io
import mmap
import os
import queue
import re
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np

from . import __version__
from . import arrow as _arrow
from .codec import Codec
from .columns import column_info, column_kind, sparse_parts
from .errors import DecodeError, EncodeError, PayloadError, UnsupportedMediaTypeError
from .formats import _csv_text, _textnum
from .formats import csv as _csv
from .formats import jsonlines as _jsonlines
from .formats import recordio_protobuf as _recordio
from .formats._side_by_side import SideBySide
from .mime import MediaType
from .record import Ragged, RecordBatch
from .registry import ALIASES, get_codec

__all__ = ["EXTENSIONS", "main"]

PROG = "sm-payloads"

#: File extension (lower-case) → media type.
EXTENSIONS: dict[str, str] = {
    ".csv": "text/csv",
    ".rec": "application/x-recordio-protobuf",
    ".pbr": "application/x-recordio-protobuf",
    ".recordio": "application/x-recordio-protobuf",
    ".jsonl": "application/jsonlines",
    ".json": "application/json",
    ".npy": "application/x-npy",
    ".libsvm": "text/libsvm",
    ".svm": "text/libsvm",
}

#: Arrow files (read and written with pyarrow: ``pip install "sm_payloads[arrow]"``):
#: extension → type, and the names ``--from`` / ``--to`` / ``--type`` take for them.
ARROW_EXTENSIONS: dict[str, str] = {".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow"}
ARROW_TYPES: dict[str, str] = {
    "parquet": "parquet",
    "application/vnd.apache.parquet": "parquet",
    "arrow": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.arrow.stream": "arrow",
}

_TEXT_TYPES = {"text/csv", "application/json", "application/jsonlines", "text/libsvm"}
#: Output formats whose files concatenate: batch after batch is one valid file.
_CONCATENATING = {"text/csv", "application/jsonlines", "application/x-recordio-protobuf", "text/libsvm"}
_DENSE_ONLY = {"text/csv", "application/x-npy"}
_DTYPES = ("float32", "float64", "int32")
_READ_BLOCK = 1 << 20
#: Encoded pieces that wait for the writer thread (`_Sink.background`).
_QUEUED = 1


class _Usage(Exception):
    """A command-line problem: exit 2."""


class _Failure(Exception):
    """An input or output problem that is not a PayloadError: exit 1."""


# ======================================================================================
# Progress and messages
# ======================================================================================

#: Inputs of at least this size get a progress bar (on a terminal); an input of unknown
#: size gets one once this much of it has been read.
_BAR_FROM = 4 << 20
_BAR_WIDTH = 30
#: Seconds between redraws (the first one too: a run shorter than this draws nothing).
_REDRAW = 0.25


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 record``, ``2 records``, ``1,000 records`` (`nouns`: an irregular plural)."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


def _is_tty(out: IO[str]) -> bool:
    isatty = getattr(out, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


class _Progress:
    """A progress bar by bytes read, ``[####------]  40% 2.0 MiB / 5.0 MiB, 1.0 MiB/s``,
    redrawn with ``\r`` on one terminal line at most four times a second, and erased when
    the input is done (or has failed), so that the summary or error line that follows
    starts a clean line.

    Drawn only when `enabled` (see `for_stream`: stderr is a terminal, not ``-q``) and the
    input is large: `total` at least `_BAR_FROM` bytes, or of unknown size (stdin) once
    that much has been read (then without a bar: bytes read and rate)."""

    def __init__(self, out: IO[str], total: int | None, enabled: bool) -> None:
        self.out = out
        self.total = total
        self.enabled = enabled and (total is None or total >= _BAR_FROM)
        self.start = time.monotonic()
        self.last = self.start
        self.shown = False
        self.drawn = 0  # the length of the text on the line
        self.done = 0

    @classmethod
    def for_stream(cls, out: IO[str], total: int | None, quiet: bool) -> _Progress:
        """The progress of an input of `total` bytes (None: unknown) drawn on `out`."""
        return cls(out, total, not quiet and _is_tty(out))

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled or (self.total is None and self.done < _BAR_FROM):
            return
        now = time.monotonic()
        if now - self.last < _REDRAW:
            return
        self.last = now
        self._draw(now)

    def text(self, now: float) -> str:
        rate = f"{_size(self.done / max(now - self.start, 1e-9))}/s"
        if not self.total:
            return f"{PROG}: {_size(self.done)} read, {rate}"
        frac = min(self.done / self.total, 1.0)
        filled = int(frac * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        return f"{PROG}: [{bar}] {100 * frac:3.0f}% {_size(self.done)} / {_size(self.total)}, {rate}"

    def _draw(self, now: float) -> None:
        text = self.text(now)
        self.out.write("\r" + text.ljust(self.drawn))
        self.out.flush()
        self.drawn = len(text)
        self.shown = True

    def finish(self) -> None:
        """Erase the bar (if drawn)."""
        if self.shown:
            self.out.write("\r" + " " * self.drawn + "\r")
            self.out.flush()
            self.shown = False
            self.drawn = 0


class _CountingReader:
    """A binary stream that reports every byte read to a `_Progress`, and keeps a copy of
    what it read while `keep` is a bytearray (the CSV text check's first batch)."""

    def __init__(self, raw: IO[bytes], progress: _Progress) -> None:
        self.raw = raw
        self.progress = progress
        self.keep: bytearray | None = None

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.progress.update(len(data))
            if self.keep is not None:
                self.keep += data
        return data

    def readinto(self, buf: Any) -> int:
        readinto = getattr(self.raw, "readinto", None)
        if readinto is None:
            data = self.raw.read(len(buf))
            got = len(data or b"")
            buf[:got] = data or b""
        else:
            got = readinto(buf) or 0
        self.progress.update(got)
        if self.keep is not None and got:
            self.keep += memoryview(buf).cast("B")[:got]
        return got

    def read_all(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            chunk = self.read(_READ_BLOCK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _regular_size(fd: int) -> int | None:
    """The size of a regular file (None for a pipe, a terminal, an empty file)."""
    try:
        st = os.fstat(fd)
    except (OSError, ValueError):
        return None
    return (st.st_size or None) if stat.S_ISREG(st.st_mode) else None


def _check_input(path: str) -> None:
    """A directory is not an input (checked before its type is inferred from the name)."""
    if path != "-" and os.path.isdir(path):
        raise _Failure(f"cannot open {path!r}: Is a directory")


@contextlib.contextmanager
def _open_input(path: str, quiet: bool) -> Iterator[_CountingReader]:
    if path == "-":
        if sys.stdin is None:  # started with descriptor 0 closed (``<&-``)
            raise _Failure("cannot read stdin: it is closed")
        raw: IO[bytes] = sys.stdin.buffer
        try:
            total = _regular_size(raw.fileno())
        except (OSError, ValueError, AttributeError):  # a stdin without a descriptor
            total = None
        progress = _Progress.for_stream(sys.stderr, total, quiet)
        try:
            yield _CountingReader(raw, progress)
        finally:
            progress.finish()
        return
    _check_input(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise _Failure(f"cannot open {path!r}: {e.strerror or e}") from None
    with f:
        progress = _Progress.for_stream(sys.stderr, _regular_size(f.fileno()), quiet)
        try:
            yield _CountingReader(f, progress)
        finally:
            progress.finish()


#: Library hints that name a keyword argument, as the command line says them.
_CLI_HINTS = (
    ("pass allow_nan=True", "pass --allow-nan"),
    (
        "the first batch read these columns as numbers; pass dtype=str for text",
        "the first batch of --batch-size records read these columns as numbers",
    ),
    (
        "where the first batch had numbers (pass dtype=str to read all as text)",
        "where the first batch of --batch-size records had numbers",
    ),
)


def _cli_message(message: str) -> str:
    for library, flag in _CLI_HINTS:
        message = message.replace(library, flag)
    return message


# ======================================================================================
# Types and options
# ======================================================================================


def _resolve(given: str | None, path: str, flag: str, allow_nan: bool = False) -> tuple[str, str, Any]:
    """(media type, essence, codec) for a file: from the flag, else from the extension."""
    if given is None:
        if path == "-":
            raise _Usage(f"cannot tell the type of '-' (stdin/stdout); pass {flag}")
        ext = os.path.splitext(path)[1].lower()
        if ext not in EXTENSIONS:
            known = " ".join(EXTENSIONS)
            what = f"extension {ext!r}" if ext else "no extension"
            raise _Usage(f"cannot tell the type of {path!r} ({what}); pass {flag} (known: {known})")
        given = EXTENSIONS[ext]
    try:
        codec = get_codec(given)
        media = MediaType.parse(given)
    except UnsupportedMediaTypeError as e:
        raise _Usage(f"{flag}: {e}") from None
    essence = ALIASES.get(media.essence, media.essence)
    if allow_nan and "allow_nan" in _options(codec):
        codec = codec.with_options(allow_nan=True)  # the JSON codecs' own option, both ways
    return given, essence, codec


def _decode_options(essence: str, dtype: str | None, num_features: int | None) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if dtype is not None:
        if essence not in _TEXT_TYPES:
            raise _Usage(f"--dtype applies to text inputs (CSV, JSON, JSON Lines, libsvm), not {essence}")
        if essence == "text/libsvm" and dtype == "int32":
            raise _Usage("--dtype for text/libsvm is float32 or float64")
        opts["dtype"] = np.dtype(dtype)
    if num_features is not None:
        if essence != "text/libsvm":
            raise _Usage(f"--num-features applies to text/libsvm inputs, not {essence}")
        opts["num_features"] = num_features
    return opts


def _options(codec: Codec) -> set[str]:
    return {f.name for f in dataclasses.fields(codec)}  # type: ignore[arg-type]


def _batches(
    reader: _CountingReader, codec: Codec, opts: dict[str, Any], batch_size: int, stream: bool
) -> Iterator[RecordBatch]:
    codec = codec.with_options(**opts)
    if stream:
        yield from codec.iter_decode(reader, batch_size=batch_size)
    else:
        yield codec.decode(reader.read_all())


def _can_stream(codec: Codec, essence: str, opts: dict[str, Any]) -> bool:
    if not codec.capabilities.streaming:
        return False
    # Without a fixed width, libsvm batches widen as larger indices appear: read it whole.
    return essence != "text/libsvm" or "num_features" in opts


# ======================================================================================
# CSV blocks that became text
# ======================================================================================

#: Outputs read as numbers only: the built-in algorithms' RecordIO-protobuf, libsvm, npy.
_NUMERIC_OUTPUTS = {"application/x-recordio-protobuf", "text/libsvm", "application/x-npy"}
#: Outputs that hold numbers only: text is refused, ``--allow-text`` or not (RecordIO-protobuf
#: can hold text, as bytes features, so ``--allow-text`` writes it there).
_NUMBERS_ONLY = {"text/libsvm", "application/x-npy"}


def _text_blocks(batch: RecordBatch) -> list[str]:
    """``label`` and/or ``features`` when the CSV reader made that block text."""
    return [
        name
        for name in ("label", "features")
        if "values" in getattr(batch, name) and column_kind(getattr(batch, name)["values"]) == "strings"
    ]


class _TextField:
    """The first field that is not a number in a block that became text."""

    def __init__(self, block: str, value: bytes, line: int, column: int, offset: int, record: int) -> None:
        self.block = block
        self.value = value
        self.line = line
        self.column = column
        self.offset = offset
        self.record = record
        self.header_like = False  # the first record, and none of its fields is a number

    def describe(self) -> str:
        shown = self.value[:40].decode("utf-8", "replace")
        return (
            f"{self.block}['values'] became text: {shown!r} in column {self.column} is not a number "
            f"at line {self.line} (byte {self.offset}, record {self.record})"
        )


def _first_text_field(data: bytes, codec: Any, records: int, blocks: Sequence[str]) -> _TextField | None:
    """Scan the first `records` records of a CSV input (`data`: its bytes from the start)
    with the CSV reader's own tokenizer (quotes, multi-line fields, blank lines, a header
    and a byte order mark as the decoder sees them) for the first field of a `blocks` block
    that is not a number by the reader's grammar (an empty field is a missing number)."""
    label_size = codec.label_size or 0
    lo = _csv_text.body_start(data)
    line = 1
    if codec.header:
        _, lo, line = _csv_text.parse_header(data, lo, _csv_text.charset_option(codec.charset))
    stop, _, _ = _csv_text.record_ends(data, lo, len(data), records, True)
    recs, _ = _csv_text.tokenize(data, lo, stop, line, 0, 0)
    for i, rec in enumerate(recs):
        for c, field in enumerate(rec.fields):
            block = "label" if c < label_size else "features"
            if block not in blocks or not field or _textnum.parse_number(field) is not None:
                continue
            at = rec.offsets[c]
            found = _TextField(block, field, rec.line + data.count(b"\n", rec.offsets[0], at), c + 1, at, i)
            found.header_like = (
                i == 0 and not codec.header and all(_textnum.parse_number(f) is None for f in rec.fields if f)
            )
            return found
    return None  # pragma: no cover  (a text block has such a field)


def _text_problem(
    path: str, given: str, flag: str, found: tuple[list[str], _TextField | None], note: str, allow: str | None
) -> str:
    """``FILE: text/csv: features['values'] became text: ...; <note>pass --allow-text
    <allow>``, or a header hint when the first line looks like one. With `allow` None,
    ``--allow-text`` would not help: `note` is the whole reason."""
    blocks, field = found
    hint = f"{note}pass --allow-text {allow}" if allow is not None else note
    if field is None:  # pragma: no cover  (defensive: name the blocks at least)
        names = " and ".join(f"{b}['values']" for b in blocks)
        return f"{path}: text/csv: {names} became text; {hint}"
    text = f"{path}: text/csv: {field.describe()}; "
    if field.header_like:
        header = re.sub(r"\s*;\s*header\s*=[^;]*", "", given) + ";header=present"
        alternative = f"or --allow-text {allow}" if allow is not None else note
        return text + f"line {field.line} looks like a header: pass {flag} {header!r} ({alternative})"
    return text + hint


class _TextCheck:
    """Watches the first batch of a CSV input read without ``--dtype``: a block (label or
    features) that the reader made text because a field is not a number.

    The reader decides numbers or text per block on the first batch; a later batch that
    disagrees is a positioned `DecodeError` of its own. So only the first batch's bytes
    are kept (by the reader), and scanned only when a block did become text."""

    def __init__(self, reader: _CountingReader, codec: Any) -> None:
        self.reader = reader
        self.codec = codec
        self.pending = True
        reader.keep = bytearray()

    def first(self, batch: RecordBatch) -> tuple[list[str], _TextField | None] | None:
        """None, or the text blocks of the first batch and the field that made them so."""
        if not self.pending:
            return None
        self.pending = False
        kept, self.reader.keep = self.reader.keep, None
        blocks = _text_blocks(batch)
        if not blocks:
            return None
        return blocks, _first_text_field(bytes(kept or b""), self.codec, len(batch), blocks)


# ======================================================================================
# Inputs: a codec's, or an Arrow file's
# ======================================================================================


def _arrow_type(given: str | None, path: str) -> str | None:
    """``"parquet"`` / ``"arrow"`` for an Arrow file (by the flag, else the extension)."""
    if given is not None:
        return ARROW_TYPES.get(given.strip().lower())
    if path == "-":
        return None
    return ARROW_EXTENSIONS.get(os.path.splitext(path)[1].lower())


@dataclasses.dataclass
class _Source:
    """An input resolved (usage errors are found here, before anything is opened)."""

    path: str
    media: str  # as given or inferred: a media type, or "parquet" / "arrow"
    essence: str
    codec: Any  # None for an Arrow file
    opts: dict[str, Any]
    stream: bool
    labels: list[str] | None


def _labels(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = text.split(",")
    if not all(names):
        raise _Usage(f"--label: expected NAME[,NAME...], got {text!r}")
    return names


def _source(path: str, given: str | None, flag: str, args: argparse.Namespace, *, convert: bool) -> _Source:
    labels = _labels(getattr(args, "label", None))
    kind = _arrow_type(given, path)
    if kind is not None:
        if getattr(args, "num_features", None) is not None:
            raise _Usage(f"--num-features applies to text/libsvm inputs, not {kind}")
        return _Source(path, kind, kind, None, {}, True, labels)
    if labels is not None:
        raise _Usage("--label applies to Parquet and Arrow inputs (a table's columns)")
    media, essence, codec = _resolve(given, path, flag, args.allow_nan)
    opts = _decode_options(essence, args.dtype, getattr(args, "num_features", None))
    stream = _can_stream(codec, essence, opts) if convert else codec.capabilities.streaming
    return _Source(path, media, essence, codec, opts, stream, labels)


class _Unstacked:
    """A batch of a table of numbers whose feature columns are not yet stacked into one
    (N, k) matrix (`arrow.side_by_side`): RecordIO-protobuf writes them straight into its
    records (`recordio`); any other output takes the stacked `batch`."""

    def __init__(self, columns: list[Any], rest: RecordBatch) -> None:
        self.features = SideBySide(columns)
        self.rest = rest  # the label (and nothing else)

    def __len__(self) -> int:
        return len(self.rest)

    def batch(self) -> RecordBatch:
        rest = self.rest
        return RecordBatch({"values": self.features.stack()}, rest.label, n=len(rest))

    def recordio(self, sdk_compatible: bool) -> bytes | None:
        """The batch's RecordIO-protobuf bytes, when its columns are all floats (the
        encoder's uniform dense layout) and no record needs the magic moved; else None."""
        rest = self.rest
        labels = list(rest.label.items())
        if (
            not len(rest)
            or self.features.dtype.kind != "f"
            or any(not isinstance(c, np.ndarray) or c.dtype.kind != "f" for _, c in labels)
            or rest.uid is not None
            or rest.metadata is not None
            or rest.configuration is not None
        ):
            return None
        columns = [("features", "values", self.features), *(("label", k, c) for k, c in labels)]
        return _recordio.encode_columns(columns, len(rest), sdk_compatible=sdk_compatible)


@contextlib.contextmanager
def _reading(
    source: _Source, args: argparse.Namespace
) -> Iterator[tuple[Iterator[RecordBatch], _TextCheck | None, Any]]:
    """(batches, the CSV text check or None, a function giving the bytes read so far)."""
    with _reading_some(source, args, False) as (batches, check, size):
        yield batches, check, size  # type: ignore[misc]  # without side_by_side: batches only


@contextlib.contextmanager
def _reading_some(
    source: _Source, args: argparse.Namespace, side_by_side: bool
) -> Iterator[tuple[Iterator[RecordBatch | _Unstacked], _TextCheck | None, Any]]:
    """`_reading`; with `side_by_side`, a table's feature columns may come unstacked
    (`_Unstacked`)."""
    if source.codec is None:
        size = _arrow_size(source.path)
        yield _arrow_batches(source, args, size, side_by_side), None, size
        return
    with _open_input(source.path, args.quiet) as reader:
        check = None
        if source.essence == "text/csv" and args.dtype is None:
            check = _TextCheck(reader, source.codec)
        batches = _batches(reader, source.codec, source.opts, args.batch_size, source.stream)
        yield batches, check, lambda: reader.progress.done


def _pyarrow() -> Any:
    try:
        return _arrow.pyarrow()
    except ImportError as e:
        raise _Failure(str(e)) from None


class _ReadCounter(io.RawIOBase):
    """A binary stream as pyarrow reads one, counting the bytes read (`prefix`: bytes
    already taken from `raw`, served first)."""

    def __init__(self, raw: IO[bytes], prefix: bytes = b"") -> None:
        self.raw = raw
        self.n = 0
        self.prefix = prefix

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        if self.prefix:
            data, self.prefix = self.prefix[: len(view)], self.prefix[len(view) :]
        else:
            data = self.raw.read(len(view))
        got = len(data)
        view[:got] = data
        self.n += got
        return got


class _StdinSize:
    """The bytes of an Arrow input read from stdin (known once it was read)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        return self.n


def _arrow_size(path: str) -> Any:
    if path == "-":
        return _StdinSize()
    try:
        n = os.path.getsize(path)
    except OSError as e:
        raise _Failure(f"cannot open {path!r}: {e.strerror or e}") from None
    return lambda: n


def _arrow_record_batches(
    pa: Any, source: _Source, args: argparse.Namespace, size: Any, schema: list[Any]
) -> Iterator[Any]:
    """The file's Arrow record batches: Parquet row group by row group, in batches of at
    most --batch-size rows; Arrow IPC batch by batch (the file format, else the stream).
    The file's schema is appended to `schema` once the file is open."""
    path = source.path
    mapped: _Mapped | None = None
    if path == "-":
        if sys.stdin is None:
            raise _Failure("cannot read stdin: it is closed")
        if source.essence == "arrow":  # the stream format streams
            # The file format (what `convert ... - --to arrow` writes) is "ARROW1", two
            # bytes of padding, the stream format, then a footer: read as the stream after
            # its 8 bytes, so that one convert's output pipes into another.
            head = sys.stdin.buffer.read(8)
            is_file = head[:6] == b"ARROW1"
            counted = _ReadCounter(sys.stdin.buffer, b"" if is_file else head)
            stream = pa.ipc.open_stream(counted)
            schema.append(stream.schema)
            yield from _pinned(stream, _arrow.shapeless_sparse(stream.schema), None)
            if is_file:  # the footer
                counted.n += len(head) + len(sys.stdin.buffer.read())
            size.n = counted.n
            return
        data = sys.stdin.buffer.read()
        size.n = len(data)
        handle: Any = pa.BufferReader(data)
    else:
        mapped = _Mapped.open(pa, path) if source.essence == "arrow" else None
        try:
            handle = pa.OSFile(path, "rb") if mapped is None else pa.BufferReader(mapped.buffer)
        except OSError as e:
            raise _Failure(f"cannot open {path!r}: {e.strerror or e}") from None
    with contextlib.closing(handle):
        if source.essence == "parquet":
            import pyarrow.parquet as pq  # type: ignore[import-untyped]

            # One row group at a time: pyarrow's read-ahead (pre_buffer, and batches of the
            # next row groups decoded by its threads while we encode) would hold several.
            # And buffered column reads: unbuffered, pyarrow reads each column chunk of the
            # row group whole (a file of one 1.6M-row group held 370 MB); buffered, a
            # buffer per column (32 MiB over all columns, 64 KiB to 1 MiB each).
            meta = pq.read_metadata(handle)
            buffer = max(64 << 10, min(1 << 20, (32 << 20) // max(1, meta.num_columns)))
            parquet = pq.ParquetFile(handle, metadata=meta, pre_buffer=False, buffer_size=buffer)
            schema.append(parquet.schema_arrow)
            shapeless = _arrow.shapeless_sparse(parquet.schema_arrow)
            widths = None
            if shapeless:  # a first pass over their keys only, a batch at a time
                widths = dict.fromkeys(shapeless, 0)
                for group in range(parquet.num_row_groups):
                    for keys in parquet.iter_batches(
                        batch_size=args.batch_size,
                        row_groups=[group],
                        columns=[n if "." in n else f"{n}.keys" for n in shapeless],
                    ):
                        for n, w in _arrow.key_widths(keys, shapeless).items():
                            widths[n] = max(widths[n], w)
            for group in range(parquet.num_row_groups):
                batches = parquet.iter_batches(batch_size=args.batch_size, row_groups=[group])
                yield from _pinned(batches, shapeless, widths)
            return
        try:
            ipc = pa.ipc.open_file(handle)
        except pa.ArrowInvalid:
            handle.seek(0)
            if handle.read(4) == b"FEA1":  # Feather V1 (not IPC): pyarrow reads it whole
                import warnings

                import pyarrow.feather as feather  # type: ignore[import-untyped]

                handle.seek(0)
                with warnings.catch_warnings():  # pyarrow deprecates V1 (the file is as it is)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    table = feather.read_table(handle)
                schema.append(table.schema)
                shapeless = _arrow.shapeless_sparse(table.schema)
                widths = _arrow.key_widths(table, shapeless) if shapeless else None
                yield from _pinned(table.to_batches(max_chunksize=args.batch_size), shapeless, widths)
                return
            handle.seek(0)
            stream = pa.ipc.open_stream(handle)
            schema.append(stream.schema)
            yield from _pinned(stream, _arrow.shapeless_sparse(stream.schema), None)
            return
        schema.append(ipc.schema)
        shapeless = _arrow.shapeless_sparse(ipc.schema)
        widths = None
        if shapeless:  # a first pass, a record batch at a time
            widths = dict.fromkeys(shapeless, 0)
            for rb in _file_batches(ipc, mapped):
                for n, w in _arrow.key_widths(rb, shapeless).items():
                    widths[n] = max(widths[n], w)
        yield from _pinned(_file_batches(ipc, mapped), shapeless, widths)


def _file_batches(ipc: Any, mapped: _Mapped | None) -> Iterator[Any]:
    """An Arrow IPC file's record batches, one at a time; a mapped file's pages up to the end
    of a batch are dropped once the next one is asked for (the batch was converted)."""
    for i in range(ipc.num_record_batches):
        rb = ipc.get_batch(i)
        yield rb
        if mapped is not None:
            mapped.drop_through(rb)


class _Mapped:
    """A regular file mapped read-only, so that pyarrow reads an Arrow IPC file's record
    batches in place instead of copying each into buffers of its own (a 492 MB file to
    RecordIO-protobuf: 0.39 to 0.46 s of CPU read, 0.34 to 0.37 s mapped). The pages of
    the batches done are dropped from the process (``MADV_DONTNEED``; the page cache keeps
    them), so the RSS follows the batch as it does when the file is read (84 MB against
    545 MB without the drop)."""

    def __init__(self, pa: Any, mm: mmap.mmap) -> None:
        self.mm = mm
        self.buffer = pa.py_buffer(mm)
        self.start = self.buffer.address
        self.dropped = 0

    @classmethod
    def open(cls, pa: Any, path: str) -> _Mapped | None:
        """The mapped file, or None (not a regular file, empty, or no ``madvise``): read it."""
        if not hasattr(mmap, "MADV_DONTNEED"):
            return None
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # (opening a FIFO would wait for a writer)
                return None
            with open(path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # an empty file cannot be mapped
            return None
        return cls(pa, mm)

    def drop_through(self, rb: Any) -> None:
        """Drop the pages before the end of record batch `rb`'s last buffer in the file
        (buffers elsewhere, as pyarrow makes for a compressed file, do not count)."""
        size = self.buffer.size
        end = self.dropped
        for col in rb.columns:
            for b in col.buffers():
                if b is not None and self.start <= b.address < self.start + size:
                    end = max(end, b.address - self.start + b.size)
        upto = end - end % mmap.PAGESIZE
        if upto > self.dropped:
            self.mm.madvise(mmap.MADV_DONTNEED, 0, upto)
            self.dropped = upto


def _pinned(batches: Any, shapeless: list[str], widths: dict[str, int] | None) -> Iterator[Any]:
    """`batches` with one record shape for each sparse column without a
    ``sm_payloads.shape`` (`from_arrow` would give each batch its own largest key + 1):
    `widths`, found by a first pass over the file, or in a stream (read once) the first
    batch with records' (a larger key later is an error naming the column)."""
    for rb in batches:
        if shapeless:
            if widths is None and rb.num_rows:
                widths = _arrow.key_widths(rb, shapeless)
            if widths is not None:
                rb = _arrow.with_shapes(rb, widths)
        yield rb


def _arrow_batches(
    source: _Source, args: argparse.Namespace, size: Any, side_by_side: bool = False
) -> Iterator[RecordBatch | _Unstacked]:
    pa = _pyarrow()
    first = 0
    kind = "Parquet" if source.essence == "parquet" else "Arrow IPC"
    schema: list[Any] = []
    try:
        for rb in _arrow_record_batches(pa, source, args, size, schema):
            for start in range(0, rb.num_rows, args.batch_size):
                part = rb.slice(start, args.batch_size)
                try:
                    if side_by_side:
                        got = _arrow.side_by_side(part, label=source.labels, dtype=args.dtype)
                        yield got if isinstance(got, RecordBatch) else _Unstacked(*got)
                    else:
                        yield _arrow.from_arrow(part, label=source.labels, dtype=args.dtype)
                except EncodeError as e:
                    raise _in_input(e, first) from None
                first += part.num_rows
        if not first and schema:
            # No records: the columns are still checked (a --label the file lacks, a text
            # feature column), as they are when the file has records, and the empty batch
            # carries them to the output (a Parquet or Arrow output keeps the columns).
            # (Schema.empty_table imports pandas: 0.4 s; a table of no batches does not.)
            empty = pa.Table.from_batches([], schema=schema[0])
            yield _arrow.from_arrow(empty, label=source.labels, dtype=args.dtype)
    except (pa.ArrowException, OSError) as e:
        # pyarrow reports a corrupt Parquet page as a plain OSError ("Couldn't deserialize
        # thrift"): every error of the reader is the input's (opening it was checked before)
        raise _Failure(f"{source.path}: cannot read it as {kind}: {' '.join(str(e).split())}") from None


class _SinkFile(io.RawIOBase):
    """A `_Sink` as the binary file pyarrow's writers write to (closing it leaves the sink
    to `_open_output`)."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.n = 0
        self.dropping = False  # after a failure: what the writer still writes goes nowhere

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        if self.dropping:
            return view.nbytes
        self.sink.write(view)  # type: ignore[arg-type]  # _Sink.write takes any buffer
        self.n += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.n


def _meta(field: Any) -> str:
    return str(
        {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (field.metadata or {}).items()}
    )


class _ArrowWriter:
    """Writes batches to a Parquet file (a row group per batch) or an Arrow IPC file."""

    def __init__(self, kind: str, out: _Sink) -> None:
        self.pa = _pyarrow()
        self.kind = kind
        self.file = _SinkFile(out)
        self.writer: Any = None
        self.schema: Any = None
        self.records = 0

    @property
    def written(self) -> int:
        return self.file.n

    def _open(self, schema: Any) -> None:
        self.schema = schema
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            for f in schema:
                t = f.type
                while self.pa.types.is_fixed_size_list(t):
                    if t.list_size == 0:
                        # pyarrow writes such a column, but cannot read the file back
                        # ("Expected all lists to be of size=0 but index 1 had size=1")
                        raise _Failure(
                            f"column {f.name} ({f.type}) has records with no values (a dimension "
                            "of size 0), which a Parquet file cannot hold; write Arrow IPC "
                            "(--to arrow) instead"
                        )
                    t = t.value_type

            self.writer = pq.ParquetWriter(self.file, schema)
        else:
            self.writer = self.pa.ipc.new_file(self.file, schema)

    def add(self, batch: RecordBatch | _Unstacked) -> None:
        if isinstance(batch, _Unstacked):
            batch = batch.batch()
        table = batch.to_arrow()
        if self.writer is None:
            self._open(table.schema)
        elif not table.schema.equals(self.schema, check_metadata=True):
            for new, old in zip(table.schema, self.schema, strict=False):
                if new.name == old.name and (new.metadata or {}) != (old.metadata or {}):
                    # a cast would give these records the first batch's sparse record shape
                    raise _Failure(
                        f"records from {self.records} on: column {new.name} has field metadata "
                        f"{_meta(new)} instead of {_meta(old)} (a sparse record shape); a "
                        f"{self.kind} file has one schema"
                    )
            try:
                table = table.cast(self.schema)
            except (self.pa.ArrowException, ValueError):
                raise _Failure(
                    f"records from {self.records} on have other columns than the first batch "
                    f"({', '.join(f'{f.name}: {f.type}' for f in table.schema)} instead of "
                    f"{', '.join(f'{f.name}: {f.type}' for f in self.schema)}); a {self.kind} file "
                    "has one schema"
                ) from None
        if table.num_rows:
            self.writer.write_table(table)
        self.records += len(batch)

    def close(self) -> None:
        if self.writer is None:  # no records: an empty file of no columns
            self._open(self.pa.schema([]))
        self.writer.close()

    def abandon(self) -> None:
        """After a failure: close the pyarrow writer, its last bytes dropped (the output is
        removed, or stdout keeps the batches already written)."""
        self.file.dropping = True
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()


@contextlib.contextmanager
def _writing(kind: str | None, essence: str, codec: Any, out: _Sink) -> Iterator[_Writer | _ArrowWriter]:
    """The writer of `convert`'s output: a codec's, or an Arrow file's (abandoned on failure)."""
    if kind is None:
        yield _Writer(codec, essence, out)
        return
    writer = _ArrowWriter(kind, out)
    try:
        yield writer
    except BaseException:
        writer.abandon()
        raise


# ======================================================================================
# convert
# ======================================================================================


def _dense(col: Any) -> Any:
    if column_kind(col) != "sparse":
        return col
    m, shape = sparse_parts(col)
    return np.asarray(m.toarray()).reshape((m.shape[0], *shape))


def _densify(batch: RecordBatch) -> RecordBatch:
    if not any(column_kind(c) == "sparse" for m in (batch.features, batch.label) for c in m.values()):
        return batch
    return RecordBatch(
        {k: _dense(c) for k, c in batch.features.items()},
        {k: _dense(c) for k, c in batch.label.items()},
        batch.uid,
        batch.metadata,
        batch.configuration,
        n=len(batch),
    )


class _Writer:
    """Appends encoded batches (concatenating formats) or collects them (JSON, npy)."""

    def __init__(self, codec: Any, essence: str, out: _Sink) -> None:
        self.codec = codec
        self.essence = essence
        self.out = out
        self.held: list[RecordBatch] = []
        self.written = 0
        self.records = 0
        if essence in _CONCATENATING:
            out.background()  # batch after batch: write one while the next is encoded

    def add(self, batch: RecordBatch | _Unstacked) -> None:
        if isinstance(batch, _Unstacked):
            body = None
            if self.essence == "application/x-recordio-protobuf":
                try:
                    body = batch.recordio(self.codec.sdk_compatible)
                except EncodeError as e:
                    raise _in_input(e, self.records) from None
            if body is not None:
                self.records += len(batch)
                self._put(body)
                return
            batch = batch.batch()
        if self.essence in _DENSE_ONLY:
            batch = _densify(batch)
        first_record = self.records
        self.records += len(batch)
        if self.essence not in _CONCATENATING:
            self.held.append(batch)  # encoded whole by close(): record indices are the input's
            return
        try:
            if self.essence == "text/csv":
                first = self.written == 0
                body = _csv.encode(
                    batch, label_size=self.codec.label_size, header=self.codec.header and first
                )
                if body:
                    if not first:
                        self._put(b"\n")  # a write of its own: `b"\n" + body` copied the body
                    self._put(body)
                return
            body = self.codec.encode(batch)
        except EncodeError as e:
            raise _in_input(e, first_record) from None
        self._put(body)

    def _put(self, data: bytes) -> None:
        if type(data) is not bytes:  # the writer thread holds it: nothing may change it
            data = bytes(data)
        self.out.put(data)  # all of it, or a _Failure (now, or from a later put or close)
        self.written += len(data)

    def close(self) -> None:
        if self.essence == "text/csv":
            if self.written:
                self._put(b"\n")
        elif self.essence not in _CONCATENATING:
            self._put(self.codec.encode(RecordBatch.concat(self.held)))
            self.held = []


_RECORD = re.compile(r"\brecord (\d+)\b")


def _in_input(e: EncodeError, first_record: int) -> EncodeError:
    """`e`, raised for a batch whose first record is record `first_record` of the input,
    with its record indices counted from the start of the input."""
    if not first_record:
        return e
    reason = _RECORD.sub(lambda m: f"record {int(m.group(1)) + first_record}", e.reason)
    return EncodeError(e.content_type, reason, column=e.column, status_hint=e.status_hint)


def _new_file_mode(path: str) -> int:
    """The mode of the file being replaced, or what ``open()`` would give a new one (the
    temporary file is created 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _stdout_failed(e: OSError) -> _Failure:
    """The error for a failed write to stdout (a full disk, a reader that went away). stdout's
    descriptor is pointed at the null device, as Python's documentation advises for a
    broken pipe, so that the bytes still buffered are dropped at exit instead of failing
    again (``Exception ignored ...``)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # closed, or not a file
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return _Failure(f"cannot write stdout: {e.strerror or e}")


class _Sink:
    """An output of `convert` whose writes complete or fail. A buffered stream reports a
    short write, without an error, when the disk fills up or the reader of a pipe goes
    away midway: the rest is written again (which then raises the error). An `OSError`
    becomes a `_Failure` naming the output. `owned`: closed when done (stdout is only
    flushed)."""

    def __init__(self, raw: IO[bytes], name: str, owned: bool = True) -> None:
        self.raw = raw
        self.name = name  # "stdout", or the file name as given, quoted
        self.owned = owned
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None
        self._dropping = False

    def _failed(self, e: OSError) -> _Failure:
        if self.name == "stdout":
            return _stdout_failed(e)
        return _Failure(f"cannot write {self.name}: {e.strerror or e}")

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data).cast("B")
        while view:
            n = self.raw.write(view)
            if not n:  # took nothing: it would never take the rest
                raise OSError("a write took no bytes")
            view = view[n:]

    def write(self, data: bytes) -> None:
        """Write all of `data` now (a `_Failure` if that fails)."""
        try:
            self._write_all(data)
        except OSError as e:
            raise self._failed(e) from None

    def background(self) -> None:
        """From now on, `put` hands its bytes to a writer thread: the copy into the page
        cache or the pipe (``write`` releases the GIL) overlaps the encoding of the next
        batch. At most `_QUEUED` pieces wait, so memory holds the piece being written,
        the one queued and the batch being encoded."""
        self._queue = queue.Queue(maxsize=_QUEUED)
        self._thread = threading.Thread(target=self._drain, name="sm-payloads-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        q = self._queue
        assert q is not None
        while True:
            data = q.get()
            if data is None:
                return
            if self._error is None and not self._dropping:
                try:
                    self._write_all(data)
                except OSError as e:
                    self._error = e

    def put(self, data: bytes) -> None:
        """Write `data` (immutable bytes), in the writer thread once `background` was
        called; a failure of an earlier write is raised here or by `close`."""
        if self._queue is None:
            self.write(data)
            return
        if self._error is not None:
            raise self._failed(self._error)
        self._queue.put(data)

    def _join(self, drop: bool) -> OSError | None:
        """Stop the writer thread once it wrote what is queued (or dropped it)."""
        if self._queue is None or self._thread is None:
            return None
        self._dropping = drop
        self._queue.put(None)
        self._thread.join()
        self._queue = self._thread = None
        return self._error

    def close(self) -> None:
        """Flush (and close an owned stream): every byte written is then delivered."""
        error = self._join(drop=False)
        if error is not None:
            raise self._failed(error)
        try:
            self.raw.flush()
            if self.owned:
                self.raw.close()
        except OSError as e:
            raise self._failed(e) from None

    def abandon(self) -> None:
        """Close after a failure, which stays the error reported: stdout still gets the
        batches written before it (they are streamed, the writer thread's queue too), an
        owned stream is closed (a buffered stream closes its descriptor even when its last
        flush fails)."""
        self._join(drop=self.owned)
        try:
            if self.owned:
                self.raw.close()
            else:
                self.raw.flush()
        except OSError as e:
            if not self.owned:
                self._failed(e)  # drops what stdout still buffers


@contextlib.contextmanager
def _finishing(sink: _Sink) -> Iterator[_Sink]:
    try:
        yield sink
    except BaseException:
        sink.abandon()
        raise
    sink.close()


def _open_in_place(path: str, target: str, mode: int) -> _Sink:
    """A FIFO, a device or a socket, opened to be written directly: renaming a file over it
    would replace it (``/dev/null`` would become a regular file)."""
    try:
        if stat.S_ISSOCK(mode):
            import socket  # (on first use: 3 ms of start-up that other outputs need not pay)

            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(target)
                f: IO[bytes] = sock.makefile("wb")  # keeps the connection open until closed
        else:
            f = open(target, "wb")  # noqa: SIM115 (closed by the sink)
    except OSError as e:
        raise _Failure(f"cannot write {path!r}: {e.strerror or e}") from None
    return _Sink(f, repr(path))


#: How `_temporary_file` opens a new file: created by this call only, never through a link.
_NEW_FILE = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
#: Names `_temporary_file` tries before it gives up (tempfile's TMP_MAX).
_TEMPORARY_TRIES = 10000


def _temporary_file(directory: str) -> tuple[int, str]:
    """A new file ``.sm-payloads-<12 random hex digits>`` in `directory`, mode 0600: (its
    open descriptor, its absolute path). What ``tempfile.mkstemp(prefix=".sm-payloads-",
    dir=directory)`` does, without importing tempfile (which imports shutil, random, bz2
    and lzma: 3 ms of every conversion's start-up). A name that exists is passed over."""
    for _ in range(_TEMPORARY_TRIES):
        path = os.path.abspath(os.path.join(directory, f".sm-payloads-{os.urandom(6).hex()}"))
        try:
            return os.open(path, _NEW_FILE, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused name for a temporary file", directory)


@contextlib.contextmanager
def _open_output(path: str) -> Iterator[_Sink]:
    """stdout; an existing FIFO, device or socket, written in place; or else a temporary
    file beside the file `path` names (a symbolic link's target, so that the link stays
    a link) that replaces that file only on success."""
    if path == "-":
        if sys.stdout is None:  # started with descriptor 1 closed (``>&-``)
            raise _Failure("cannot write stdout: it is closed")
        with _finishing(_Sink(sys.stdout.buffer, "stdout", owned=False)) as sink:
            yield sink
        return
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = stat.S_IFREG  # a new file
    if not stat.S_ISREG(mode):
        with _finishing(_open_in_place(path, target, mode)) as sink:
            yield sink
        return
    try:
        fd, tmp = _temporary_file(os.path.dirname(target))
    except OSError as e:
        raise _Failure(f"cannot write {path!r}: {e.strerror or e}") from None
    try:
        with _finishing(_Sink(os.fdopen(fd, "wb"), repr(path))) as sink:
            yield sink
        try:
            os.chmod(tmp, _new_file_mode(target))
            os.replace(tmp, target)
        except OSError as e:
            raise _Failure(f"cannot write {path!r}: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _stderr(text: str) -> None:
    """Write to stderr, when there is one (a closed stderr loses the message, never the
    exit status)."""
    err = sys.stderr
    if err is None:
        return
    with contextlib.suppress(OSError):
        err.write(text)
        err.flush()


def _warn(message: str) -> None:
    _stderr(f"{PROG}: warning: {' '.join(message.split())}\n")


#: glibc's mallopt parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep the memory of freed batches for the next ones.

    By default a block over its mmap threshold (128 KiB at first) gets pages of its own,
    which the kernel zeroes at the first touch and takes back at free, and the top of the
    heap is given back once 128 KiB are free there: a streaming conversion allocated and
    faulted in every batch's buffers again (130,000 page faults, 0.2 s of system time for
    a 55 MB RecordIO-protobuf file to JSON Lines, against 25,000 with this). Blocks up to
    32 MiB (glibc's largest threshold) now come from the heap, and up to 256 MiB of free
    heap stay mapped: memory still follows the batch, and freed batches are reused rather
    than faulted in again. Nothing on other C libraries (no ``mallopt``)."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc, or no symbols of the process
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)


def _convert(args: argparse.Namespace) -> int:
    _keep_freed_memory()
    # What the imports made lives as long as the process: the cyclic collector's full
    # passes, which the batches' objects set off, need not walk it again each time
    # (RecordIO-protobuf -> JSON Lines of a 55 MB file: 0.058 -> 0.018 s of collection).
    gc.freeze()
    try:
        return _convert_files(args)
    finally:
        gc.unfreeze()


def _convert_files(args: argparse.Namespace) -> int:
    started = time.monotonic()
    _check_input(args.input)
    if args.output != "-" and os.path.isdir(args.output):
        raise _Failure(f"cannot write {args.output!r}: Is a directory")
    source = _source(args.input, args.from_type, "--from", args, convert=True)
    in_given = source.media
    out_kind = _arrow_type(args.to_type, args.output)
    if out_kind is None:
        _, out_essence, out_codec = _resolve(args.to_type, args.output, "--to", args.allow_nan)
    else:
        out_essence, out_codec = out_kind, None
    # A table's feature columns go into RecordIO-protobuf records unstacked (no (N, k) matrix).
    side_by_side = out_essence == "application/x-recordio-protobuf"
    with (
        _reading_some(source, args, side_by_side) as (batches, check, bytes_read),
        _open_output(args.output) as out,
        _writing(out_kind, out_essence, out_codec, out) as writer,
    ):
        try:
            for batch in batches:
                found = check.first(batch) if check is not None and isinstance(batch, RecordBatch) else None
                if found is not None and out_essence in _NUMBERS_ONLY:  # --allow-text or not
                    note = f"{out_essence} holds numbers only, not text"
                    raise _Failure(_text_problem(args.input, in_given, "--from", found, note, None))
                if found is not None and not args.allow_text:
                    if out_essence in _NUMERIC_OUTPUTS:
                        note = f"{out_essence} is read as numbers: "
                        raise _Failure(
                            _text_problem(args.input, in_given, "--from", found, note, "to write text anyway")
                        )
                    if not args.quiet:
                        note = "written as text; "
                        _warn(
                            _text_problem(
                                args.input, in_given, "--from", found, note, "to silence this warning"
                            )
                        )
                writer.add(batch)
        except DecodeError as e:
            raise _Failure(f"{args.input}: {e}") from None
        writer.close()
        bytes_in = bytes_read()
    if not args.quiet:
        where = "stdout" if args.output == "-" else args.output
        _stderr(  # after the output was flushed: every byte counted was delivered
            f"{PROG}: wrote {_plural(writer.records, 'record')} to {where} "
            f"({_plural(bytes_in, 'byte')} in, {_plural(writer.written, 'byte')} out) "
            f"in {time.monotonic() - started:.2f} s\n"
        )
    return 0


# ======================================================================================
# inspect
# ======================================================================================


class _ColumnSummary:
    def __init__(self) -> None:
        self.kinds: dict[str, None] = {}
        self.nnz = 0
        self.cells = 0
        self.width: tuple[int, ...] | None = None
        self.min_len: int | None = None
        self.max_len: int | None = None

    def add(self, col: Any) -> None:
        kind, dt, shape = column_info(col)
        if kind == "sparse":
            m, shape = sparse_parts(col)
            self.nnz += int(m.nnz)
            self.width = shape if self.width is None or shape > self.width else self.width
            self.cells += int(m.shape[0])
            self.kinds[f"sparse {dt}"] = None
            return
        if kind == "ragged":
            assert isinstance(col, Ragged)
            lengths = col.lengths
            if lengths.size:
                lo, hi = int(lengths.min()), int(lengths.max())
                self.min_len = lo if self.min_len is None else min(self.min_len, lo)
                self.max_len = hi if self.max_len is None else max(self.max_len, hi)
        self.kinds[f"{kind} {dt}" + ("" if shape is None else f" {shape}")] = None

    def describe(self) -> str:
        parts = []
        for k in self.kinds:
            if k.startswith("sparse"):
                width = self.width or ()
                total = self.cells * int(np.prod(width))
                density = self.nnz / total if total else 0.0
                k = f"{k} {width}, {self.nnz} stored, density {density:.6g}"
            elif k.startswith("ragged") and self.min_len is not None:
                k = f"{k}, lengths {self.min_len}..{self.max_len}"
            parts.append(k)
        return " | ".join(parts)


def _inspect(args: argparse.Namespace) -> int:
    _check_input(args.file)
    if sys.stdout is None:  # started with descriptor 1 closed (``>&-``)
        raise _Failure("cannot write stdout: it is closed")
    source = _source(args.file, args.type, "--type", args, convert=False)
    media = source.media
    summaries: dict[tuple[str, str], _ColumnSummary] = {}
    strings = {"uid": 0, "metadata": 0, "configuration": 0}
    head: list[RecordBatch] = []
    wanted = args.head
    records = 0
    batches = 0
    with _reading(source, args) as (source_batches, _, bytes_read):
        for batch in source_batches:
            batches += 1
            records += len(batch)
            for map_name in ("features", "label"):
                for key, col in getattr(batch, map_name).items():
                    summaries.setdefault((map_name, key), _ColumnSummary()).add(col)
            for s in strings:
                values = getattr(batch, s)
                if values is not None:
                    strings[s] += sum(v is not None for v in values)
            if wanted > 0 and len(batch):
                take = batch.slice(0, min(wanted, len(batch)))
                head.append(take)
                wanted -= len(take)
        size = bytes_read()
    lines = [
        f"file: {args.file}",
        f"type: {media}",
        f"bytes: {size}",
        f"records: {records}",
    ]
    for (map_name, key), summary in summaries.items():
        lines.append(f"{map_name}[{key!r}]: {summary.describe()}")
    for s, count in strings.items():
        if count:
            lines.append(f"{s}: {count:,} of {_plural(records, 'record')}")
    out = sys.stdout
    try:
        out.write("\n".join(lines) + "\n")
        if head:
            rows = RecordBatch.concat(head)
            out.write(f"first {_plural(len(rows), 'record')} (application/jsonlines):\n")
            out.flush()
            _Sink(out.buffer, "stdout", owned=False).write(_jsonlines.encode(rows, allow_nan=True))
        out.flush()
    except OSError as e:
        raise _stdout_failed(e) from None
    return 0


# ======================================================================================
# validate
# ======================================================================================


def _validate(args: argparse.Namespace) -> int:
    _check_input(args.file)
    source = _source(args.file, args.type, "--type", args, convert=False)
    media = source.media
    records = 0
    text: list[str] = []
    with _reading(source, args) as (batches, check, _):
        try:
            for batch in batches:
                found = check.first(batch) if check is not None else None
                if found is not None:
                    text = found[0]
                    if not args.allow_text:
                        raise _Failure(
                            _text_problem(args.file, media, "--type", found, "", "if text is intended")
                        )
                records += len(batch)
        except PayloadError as e:
            raise _Failure(f"{args.file}: {e}") from None
    if not args.quiet:
        note = "".join(f", {b}['values'] as text" for b in text)
        print(f"{args.file}: valid {media}, {_plural(records, 'record')}{note}")
    return 0


# ======================================================================================
# split
# ======================================================================================


def _split(args: argparse.Namespace) -> int:
    """A local dry run of Batch Transform: split FILE and pack the records into the
    mini-batches SageMaker would send, one file each."""
    from . import batch as _batch  # the batch module is only needed here

    _check_input(args.file)
    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    taken = sorted(n for n in os.listdir(out_dir) if n.startswith("batch-"))
    if taken:
        raise _Failure(f"{out_dir}: already holds mini-batch files ({taken[0]}, ...); use an empty directory")
    ext = os.path.splitext(args.file)[1] if args.file != "-" else ""
    count = 0
    largest = 0
    with _open_input(args.file, args.quiet) as reader:
        try:
            records = _batch.split(reader, args.split_type)  # type: ignore[arg-type]  # a binary reader
            bodies = _batch.mini_batches(records, args.strategy, args.max_payload_mb, args.split_type)
            for body in bodies:
                with open(os.path.join(out_dir, f"batch-{count:06d}{ext}"), "wb") as f:
                    f.write(body)
                count += 1
                largest = max(largest, len(body))
        except PayloadError as e:
            raise _Failure(f"{args.file}: {e}") from None
    if not args.quiet:
        batches = _plural(count, "mini-batch", "mini-batches")
        print(f"{args.file}: {batches} in {out_dir} (largest {_plural(largest, 'byte')})")
    return 0


# ======================================================================================
# serve
# ======================================================================================


def _serve(args: argparse.Namespace) -> int:
    """Run a model server (sm_payloads.server) on uvicorn until SIGTERM or Ctrl-C."""
    from . import server  # uvicorn is imported there, and only when serving

    try:
        return server.serve(
            args.predict,
            load=args.load,
            host=args.host,
            port=args.port,
            workers=args.workers,
            max_concurrency=args.max_concurrency,
            timeout_s=args.timeout or None,
            offered=args.offer,
        )
    except ImportError as e:
        raise _Failure(str(e)) from None
    except ValueError as e:
        raise _Usage(str(e)) from None


def _seconds(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not t >= 0 or t == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}")
    return t


# ======================================================================================
# The parser
# ======================================================================================


def _types_help() -> str:
    by_type: dict[str, list[str]] = {}
    for ext, media in EXTENSIONS.items():
        by_type.setdefault(media, []).append(ext)
    for ext, kind in ARROW_EXTENSIONS.items():
        by_type.setdefault(f"{kind} (pyarrow; --label NAME[,NAME] picks label columns)", []).append(ext)
    rows = [f"  {' '.join(exts):<22} {media}" for media, exts in by_type.items()]
    return "\n".join(
        ["types: a media type with parameters, e.g. 'text/csv;label_size=1', or from the extension:", *rows]
    )


_TYPES_HELP = _types_help()

_MAIN_EPILOG = """\
examples:
  sm-payloads convert train.csv train.rec --from 'text/csv;label_size=1'
  sm-payloads convert train.rec train.jsonl
  sm-payloads inspect train.rec --head 3
  sm-payloads validate body.jsonl && echo ok
  sm-payloads split train.csv --split-type Line --max-payload-mb 1 --out batches/
  cat body.csv | sm-payloads convert - - --from text/csv --to application/jsonlines
  sm-payloads serve model:predict --load model:load --port 8080

Run 'sm-payloads COMMAND --help' for each command's options.
"""

_CONVERT_EPILOG = f"""\
{_TYPES_HELP}

CSV, JSON Lines, RecordIO-protobuf, Parquet and Arrow (and libsvm with --num-features)
inputs are read in batches of --batch-size records with bounded memory; outputs in CSV,
JSON Lines, RecordIO-protobuf, libsvm, Parquet and Arrow are written batch by batch. JSON
and npy outputs are one document: the whole dataset is held in memory to write them.

OUT as a file is written to a temporary file beside it and renamed when the conversion
succeeds: a failed convert leaves no partial file (and an existing OUT as it was), Ctrl-C
and SIGTERM included. A symbolic link's target is replaced so, and the link kept; an
existing FIFO, device or socket is written directly. OUT as - (stdout) is streamed batch
by batch: a failure midway leaves the batches already written on stdout, with exit status
1 and an error naming the record. A write that fails (a full disk, a reader that went
away) is an error naming the output, exit status 1. Write to a file when a partial output
must never be seen.

A CSV label or feature block with a field that is not a number ('3,x', a header line) is
read as text: without --allow-text that is an error naming the field (line, column,
value) for RecordIO-protobuf, and a warning for CSV, JSON and JSON Lines. npy and
libsvm hold numbers only: text is an error naming the field, with or without --allow-text.

On success one summary line goes to stderr (records, bytes in and out, seconds, OUT);
-q silences it. A progress bar is drawn on stderr when it is a terminal and IN has 4 MiB
or more.

examples:
  sm-payloads convert train.csv train.rec --from 'text/csv;label_size=1'
  sm-payloads convert train.rec train.csv --to 'text/csv;label_size=1'
  sm-payloads convert train.csv back.rec --from 'text/csv;label_size=1' --dtype float32
  sm-payloads convert data.libsvm data.rec --num-features 784
  sm-payloads convert train.parquet train.rec --label y
  sm-payloads convert train.rec train.parquet
  sm-payloads convert - out.jsonl --from text/csv < in.csv
"""

_INSPECT_EPILOG = f"""\
{_TYPES_HELP}

Prints the record count, every column (kind, dtype, record shape; density of sparse
columns, length range of ragged ones) and the first --head records as JSON Lines.

examples:
  sm-payloads inspect train.rec
  sm-payloads inspect train.csv --type 'text/csv;label_size=1' --head 2
"""

_VALIDATE_EPILOG = f"""\
{_TYPES_HELP}

Exit status: 0 valid, 1 invalid (the first error and its position on stderr), 2 usage error.
A CSV label or feature block with a field that is not a number ('3,x', a header line) is
read as text: invalid, naming the field (line, column, value), unless --allow-text.

examples:
  sm-payloads validate train.rec
  sm-payloads validate body.json --type application/json
"""


_SPLIT_EPILOG = """\
Writes DIR/batch-000000<ext>, batch-000001<ext>, ... (<ext>: FILE's extension), one
mini-batch each, exactly the bytes of one request, and prints how many and the largest.
DIR is created; one that already holds batch-* files is refused.

A record larger than the limit is an error naming its index and size, as SageMaker fails
the whole object. See docs/batch-transform.md for what each setting does.

examples:
  sm-payloads split train.csv --split-type Line --strategy MultiRecord --max-payload-mb 6 --out batches/
  sm-payloads split train.rec --split-type RecordIO --strategy SingleRecord --out one-per-record/
"""


_SERVE_EPILOG = """\
Routes: GET /ping (200 once --load has returned, 503 before or after it failed),
POST /invocations and /endpoints/NAME/invocations, GET /execution-parameters.
The body limit is SAGEMAKER_MAX_PAYLOAD_IN_MB (default 6; 0: none), the answer's
SAGEMAKER_MAX_RESPONSE_IN_MB (default 6; 0: none). SIGTERM stops accepting connections,
finishes the requests in flight and exits 0. A last argument 'serve' (SageMaker runs a
container as 'docker run IMAGE serve') is accepted and ignored.
Needs uvicorn: pip install "sm_payloads[serve]". See docs/serving.md.

examples:
  sm-payloads serve model:predict --port 8080
  sm-payloads serve model:predict --load model:load --host 0.0.0.0 --workers 4
"""


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return n


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--batch-size",
        type=_positive,
        default=10_000,
        metavar="N",
        help="records per batch when streaming (default: 10000)",
    )
    p.add_argument(
        "--dtype",
        choices=_DTYPES,
        help="read numbers of a text input as this dtype (default: float64)",
    )
    p.add_argument(
        "--allow-nan",
        action="store_true",
        help="JSON and JSON Lines: read and write NaN / Infinity / -Infinity (not standard JSON)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary, no warning")


def _label(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--label",
        metavar="NAME[,NAME]",
        help="Parquet / Arrow input: the label column(s) of a table of numbers (the other "
        "columns are the features)",
    )


def _allow_text(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--allow-text", action="store_true", help=what)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sm-payloads``."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert, inspect, validate and split Amazon SageMaker payload files.",
        epilog=_MAIN_EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "convert",
        help="convert a file from one payload format to another",
        description="Convert IN to OUT ('-' for stdin / stdout).",
        epilog=_CONVERT_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("input", metavar="IN", help="input file, or - for stdin")
    p.add_argument("output", metavar="OUT", help="output file, or - for stdout")
    p.add_argument("--from", dest="from_type", metavar="T", help="media type of IN")
    p.add_argument("--to", dest="to_type", metavar="T", help="media type of OUT")
    p.add_argument(
        "--num-features",
        type=_positive,
        metavar="D",
        help="width of a libsvm input (lets it stream; default: the largest index + 1)",
    )
    _common(p)
    _label(p)
    _allow_text(
        p,
        "CSV input: a label or feature block with a field that is not a number is text; write it to "
        "CSV, JSON, JSON Lines or RecordIO-protobuf (default: an error naming the field for "
        "RecordIO-protobuf, a warning for CSV, JSON and JSON Lines). npy and libsvm hold numbers only: "
        "text is an error naming the field, with or without --allow-text",
    )
    p.set_defaults(run=_convert)

    p = sub.add_parser(
        "inspect",
        help="summarize a file: records, columns, dtypes, shapes, first records",
        description="Summarize FILE ('-' for stdin), reading it batch by batch.",
        epilog=_INSPECT_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("file", metavar="FILE", help="file, or - for stdin")
    p.add_argument("--type", metavar="T", help="media type of FILE")
    p.add_argument("--head", type=_count, default=5, metavar="N", help="records to show (default: 5)")
    _common(p)
    _label(p)
    p.set_defaults(run=_inspect)

    p = sub.add_parser(
        "validate",
        help="check that a file decodes; exit 0 valid, 1 invalid, 2 usage",
        description="Decode FILE ('-' for stdin) to the end; report the first error and its position.",
        epilog=_VALIDATE_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("file", metavar="FILE", help="file, or - for stdin")
    p.add_argument("--type", metavar="T", help="media type of FILE")
    _common(p)
    _label(p)
    _allow_text(
        p,
        "CSV input: a label or feature block with a field that is not a number is valid, as text "
        "(default: invalid, naming the field)",
    )
    p.set_defaults(run=_validate)

    p = sub.add_parser(
        "split",
        help="dry-run Batch Transform: split a file and write the mini-batches it would send",
        description=(
            "Split FILE ('-' for stdin) as Batch Transform does (SplitType), pack the records into "
            "mini-batches (BatchStrategy, MaxPayloadInMB) and write each one to DIR as batch-NNNNNN."
        ),
        epilog=_SPLIT_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("file", metavar="FILE", help="file, or - for stdin")
    p.add_argument("--split-type", required=True, choices=["None", "Line", "RecordIO"], help="SplitType")
    p.add_argument(
        "--strategy", default="MultiRecord", choices=["SingleRecord", "MultiRecord"], help="BatchStrategy"
    )
    p.add_argument(
        "--max-payload-mb",
        type=_count,
        default=6,
        metavar="N",
        help="MaxPayloadInMB, 1 MB = 2**20 bytes; 0 = no limit (default: 6)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the mini-batch files (created)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=_split)

    p = sub.add_parser(
        "serve",
        help="run a SageMaker model server for a predict function (uvicorn)",
        description=(
            "Serve PREDICT (MODULE:CALLABLE, imported from the current directory too): a "
            "RecordBatch in, a batch, a numpy array or per-record dicts out."
        ),
        epilog=_SERVE_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("predict", metavar="MODULE:CALLABLE", help="the predict function, as model:predict")
    p.add_argument("--load", metavar="MODULE:CALLABLE", help="called once per worker before /ping is healthy")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_count, default=8080, help="port (default: 8080; 0: any free port)")
    p.add_argument("--workers", type=_positive, default=1, metavar="N", help="worker processes (default: 1)")
    p.add_argument(
        "--max-concurrency",
        type=_positive,
        metavar="N",
        help="requests handled at once per worker (default: CPUs + 4, at most 32)",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="seconds a request may take before it is answered 504 (default: 60; 0: none)",
    )
    p.add_argument(
        "--offer",
        action="append",
        metavar="T",
        help="a response type the model's answers can be written in (repeat; default: every registered one)",
    )
    p.set_defaults(run=_serve)
    return parser


def _fail(message: str, code: int) -> int:
    _stderr(f"{PROG}: error: {' '.join(_cli_message(message).split())}\n")
    return code


class _Terminated(BaseException):
    """SIGTERM, raised wherever the program is, so that it unwinds as Ctrl-C does
    (a temporary output file is removed)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:  # as Python leaves SIGINT
            raise ValueError("ignored")
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # ignored, or not the main thread (where handlers cannot be set)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _flush_stdout() -> None:
    """Flush stdout before exiting, so that a failure is an error here rather than
    Python's ``Exception ignored`` at exit."""
    if sys.stdout is not None:
        try:
            sys.stdout.flush()
        except OSError as e:
            raise _stdout_failed(e) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sm-payloads`` with `argv` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) > 2 and argv[0] == "serve" and argv[-1] == "serve":
        argv.pop()  # SageMaker runs a container as `docker run IMAGE serve`, after ENTRYPOINT's words
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else 2
    try:
        with _sigterm_unwinds():
            code: int = args.run(args)
            _flush_stdout()
        return code
    except _Usage as e:
        return _fail(str(e), 2)
    except _Failure as e:
        return _fail(str(e), 1)
    except PayloadError as e:
        return _fail(str(e), 1)
    except BrokenPipeError as e:  # a write to stdout not made through a _Sink
        return _fail(str(_stdout_failed(e)), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except _Terminated:
        return _fail("terminated", 143)
    except OSError as e:
        return _fail(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}", 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
