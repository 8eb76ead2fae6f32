"""The one error tree of sm_payloads.

Rule 1: every failure a caller can cause with its input is a `PayloadError` (a
`ValueError`), so generic code that catches `ValueError` keeps working.
Rule 2: each class carries `status_hint`, the HTTP status a server should answer with, so a
model server can map an error straight to a response (h11's `error_status_hint`).
Rule 3: messages say format, what went wrong, where, and what was expected, e.g.
``application/x-recordio-protobuf: bad magic 0x00000000 at byte 48 (record 3), expected
0xced7230a``. The position is also in structured fields (`offset`, `record_index`, `line`).
Rule 4: decoders raise nothing else, whatever the input (no IndexError, struct.error,
KeyError, MemoryError, RecursionError): internal validation raises plain `ValueError`
subclasses that the codec boundary re-raises as `DecodeError` with the position.
Rule 5: a message never echoes the payload. Whatever came from the input (a reason that
quotes a value, a content type or Accept header) is passed through `clip` when the error is
built: a run of more than `MAX_WORD` non-blank characters keeps its first and last
characters around ``...``, and the whole is cut to `MAX_REASON` characters (its start and
its end kept), so a message stays near 300 characters whatever the input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "MAX_REASON",
    "MAX_WORD",
    "DecodeError",
    "EncodeError",
    "NotAcceptableError",
    "PayloadError",
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
    "clip",
]

#: The longest run of non-blank characters a message keeps whole.
MAX_WORD = 60
#: The longest reason (or quoted header) a message keeps whole.
MAX_REASON = 200
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD + 1},}}")


def _elide_word(m: re.Match[str]) -> str:
    w = m.group()
    return f"{w[: MAX_WORD - 20]}...{w[-17:]}"


def clip(text: str, limit: int = MAX_REASON) -> str:
    """`text` shortened for a message (Rule 5): long words keep their ends around ``...``
    and the whole keeps its start and end within `limit` characters."""
    if len(text) <= MAX_WORD:
        return text
    text = _LONG_WORD.sub(_elide_word, text)
    if len(text) > limit:
        tail = limit // 3
        text = f"{text[: limit - tail - 5]} ... {text[-tail:]}"
    return text


class PayloadError(ValueError):
    """Base class of every error sm_payloads raises for bad input or impossible output."""

    status_hint: int = 400

    def __init__(self, *args: object) -> None:
        # ValueError's own __init__, not the next class in the MRO: an error that is also
        # another library's ValueError (smp.sdk.JSONDecodeError is a json.JSONDecodeError)
        # sets that class's fields itself.
        ValueError.__init__(self, *args)


def _where(offset: int | None, record_index: int | None, line: int | None) -> str:
    parts = []
    if line is not None:
        parts.append(f"line {line}")
    if offset is not None:
        parts.append(f"byte {offset}")
    if record_index is not None:
        parts.append(f"record {record_index}")
    if not parts:
        return ""
    head, *rest = parts
    return f" at {head}" + (f" ({', '.join(rest)})" if rest else "")


class DecodeError(PayloadError):
    """Bytes could not be read as the format they claim to be.

    Attributes
    ----------
    content_type : str
        The media type being decoded.
    offset : int or None
        Byte offset from the start of the input where the problem was found.
    record_index : int or None
        0-based index of the record being read.
    line : int or None
        1-based line number, for line-oriented text formats.
    reason : str
        The message without the format prefix and position (what came from the input
        shortened by `clip`; a `context` given by the caller, such as a file name, first).
    """

    status_hint = 400

    def __init__(
        self,
        content_type: str,
        reason: str,
        *,
        offset: int | None = None,
        record_index: int | None = None,
        line: int | None = None,
        context: str | None = None,
    ) -> None:
        self.content_type = content_type
        # `context` (a file name, say) is the caller's, not the input's: it is kept whole
        self.reason = reason = (f"{context}: " if context else "") + clip(reason)
        self.offset = offset
        self.record_index = record_index
        self.line = line
        super().__init__(f"{clip(content_type, MAX_WORD)}: {reason}{_where(offset, record_index, line)}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _rebuild_decode_error,
            (self.content_type, self.reason, self.offset, self.record_index, self.line),
        )


def _rebuild_decode_error(
    content_type: str, reason: str, offset: int | None, record_index: int | None, line: int | None
) -> DecodeError:
    return DecodeError(content_type, reason, offset=offset, record_index=record_index, line=line)


class EncodeError(PayloadError):
    """Records could not be written in the requested format without losing information.

    `status_hint` is 500 by default (a server failed to write its own output); pass
    ``status_hint=400`` when the data came from the caller.

    Attributes
    ----------
    content_type : str or None
        The media type being written (None while building a batch).
    column : str or None
        The column at fault, as ``features['values']``.
    """

    status_hint = 500

    def __init__(
        self,
        content_type: str | None,
        reason: str,
        *,
        column: str | None = None,
        status_hint: int | None = None,
    ) -> None:
        self.content_type = content_type
        self.reason = reason = clip(reason)
        self.column = column
        if status_hint is not None:
            self.status_hint = status_hint
        prefix = f"{clip(content_type, MAX_WORD)}: " if content_type else ""
        where = f"{clip(column, MAX_WORD)}: " if column else ""
        super().__init__(f"{prefix}{where}{reason}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild_encode_error, (self.content_type, self.reason, self.column, self.status_hint))


def _rebuild_encode_error(
    content_type: str | None, reason: str, column: str | None, status_hint: int
) -> EncodeError:
    return EncodeError(content_type, reason, column=column, status_hint=status_hint)


class UnsupportedMediaTypeError(PayloadError):
    """No codec is registered for this content type (HTTP 415)."""

    status_hint = 415

    def __init__(self, content_type: str, supported: Sequence[str], reason: str | None = None) -> None:
        self.content_type = content_type
        self.supported = tuple(supported)
        self.reason = clip(reason or "unsupported media type")
        listed = f"; supported: {', '.join(self.supported)}" if self.supported else ""
        super().__init__(f"{clip(repr(content_type), MAX_WORD)}: {self.reason}{listed}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.content_type, self.supported, self.reason))


class NotAcceptableError(PayloadError):
    """None of the types the client accepts can be produced (HTTP 406)."""

    status_hint = 406

    def __init__(self, accept: str | None, supported: Sequence[str], reason: str | None = None) -> None:
        self.accept = accept
        self.supported = tuple(supported)
        self.reason = clip(reason or "none of the acceptable types can be produced")
        shown = clip(repr(accept), MAX_WORD)
        super().__init__(f"Accept {shown}: {self.reason}; supported: {', '.join(self.supported)}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.accept, self.supported, self.reason))


class PayloadTooLargeError(PayloadError):
    """A payload, a record or a tensor is larger than the limit (HTTP 413).

    `size` and `limit` count `unit` (bytes unless said otherwise: ``"records"``,
    ``"elements"``, ``"columns"``); `record_index` names the record when one record is at
    fault.
    """

    status_hint = 413

    def __init__(
        self,
        size: int,
        limit: int,
        what: str = "payload",
        *,
        unit: str = "bytes",
        record_index: int | None = None,
    ) -> None:
        self.size = size
        self.limit = limit
        self.what = what
        self.unit = unit
        self.record_index = record_index
        at = "" if record_index is None else f" (record {record_index})"
        super().__init__(f"{what} of {size} {unit} exceeds the limit of {limit} {unit}{at}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild_too_large, (self.size, self.limit, self.what, self.unit, self.record_index))


def _rebuild_too_large(
    size: int, limit: int, what: str, unit: str, record_index: int | None
) -> PayloadTooLargeError:
    return PayloadTooLargeError(size, limit, what, unit=unit, record_index=record_index)
