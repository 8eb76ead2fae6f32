"""The codec contract: what every format offers the registry.

A codec is a small frozen object for one media type, configured once and then used for any
number of bodies (numcodecs' codec interface, msgspec's uniform verbs). The registry, the
serving handler, the CLI and the schemas only ever use what this base class declares; none
of them probes a codec for optional members.

Rule 1 (one base): every codec derives from `Codec` and is a frozen dataclass whose fields
are its options. `content_type`, `aliases` and `capabilities` are class attributes.
Rule 2 (options only at construction): `from_params` reads the media type's parameters and
takes the caller's keyword options (``dtype=``, ``allow_nan=``, ``copy=``...); `with_options`
returns a copy with some changed. The verbs (`encode`, `decode`, `encode_response`,
`decode_response`, `iter_decode`) take the body and nothing else, so a configured codec
always does the same thing. An option name the codec does not have is a ``TypeError``;
an option that only one direction uses is ignored by the other.
Rule 3 (declared capabilities): `capabilities` says whether the format carries requests,
responses, streams (`iter_decode`), and whether its encoders take arrays and lists as they
are (`raw_input`, npy) instead of a `RecordBatch`. A verb the format does not have raises
`UnsupportedMediaTypeError` (decoding) or `NotAcceptableError` (encoding a response).

>>> import sm_payloads as smp
>>> codec = smp.get_codec("text/csv; label_size=1", dtype="float32")
>>> codec
CsvCodec(label_size=1, header=False, charset='utf-8', dtype='float32', names=None, keys=None)
>>> codec.decode(b"1,2.5,3\\n").label["values"].tolist()
[1.0]
>>> codec.capabilities
Capabilities(requests=True, responses=True, streaming=True, raw_input=False)
"""

from __future__ import annotations

import dataclasses
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol

from .errors import NotAcceptableError, UnsupportedMediaTypeError

if TYPE_CHECKING:
    from typing_extensions import Self

    from .record import RecordBatch

__all__ = ["DEFAULT_BATCH_SIZE", "Capabilities", "Codec", "Readable", "Source", "check_batch_size"]


class Readable(Protocol):
    """A binary stream: what `iter_decode` reads besides bytes-like objects."""

    def read(self, n: int = -1, /) -> bytes: ...


#: What decoders read: a bytes-like object (or, for streaming decoders, a binary stream).
Source = bytes | bytearray | memoryview | IO[bytes] | Readable

#: `iter_decode`'s batch size when none is given: 10,000 records. Memory holds about one
#: batch (and the one being read): 10,000 rows of 100 float64 values are 8 MB, and a 6 MB
#: request body is 10,000 records of 600 bytes.
DEFAULT_BATCH_SIZE = 10_000


def check_batch_size(batch_size: object) -> int:
    """`batch_size` as an int of at least 1 (a ``bool`` or a float is a ``ValueError``)."""
    if not isinstance(batch_size, bool):
        try:
            n = operator.index(batch_size)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if n >= 1:
                return n
    raise ValueError(f"batch_size must be an integer of at least 1, not {batch_size!r}")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a format can do (see the module docstring, rule 3)."""

    requests: bool = True
    responses: bool = True
    streaming: bool = False
    raw_input: bool = False


class Codec(ABC):
    """Base class of every codec: a frozen dataclass of options (module docstring)."""

    __slots__ = ()

    content_type: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()

    @classmethod
    def from_params(cls, params: Mapping[str, str], /, **options: Any) -> Self:
        """The codec for a media type's parameters (lower-case names, raw values) and the
        caller's options; options win over parameters. The default ignores parameters."""
        return cls._make(**options)

    @classmethod
    def _make(cls, **options: Any) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = [k for k in options if k not in names]
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise TypeError(f"{cls.content_type} has no option {unknown[0]!r} (options: {known})")
        return cls(**options)

    def with_options(self, **options: Any) -> Self:
        """A copy with some options changed (unknown names are a ``TypeError``)."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return self._make(**(current | options))

    @abstractmethod
    def encode(self, data: Any, /) -> bytes:
        """A request body (`data`: a `RecordBatch`, or arrays with ``raw_input``)."""

    @abstractmethod
    def decode(self, data: Any, /) -> RecordBatch:
        """A request body as a batch."""

    def encode_response(self, data: Any, /) -> bytes:
        """A response body; by default the request encoding."""
        if not self.capabilities.responses:
            raise NotAcceptableError(self.content_type, (), f"{self.content_type} is a request format only")
        return self.encode(data)

    def decode_response(self, data: Any, /) -> RecordBatch:
        """A response body as a batch (outputs in ``label``); by default the request decoding."""
        if not self.capabilities.responses:
            raise UnsupportedMediaTypeError(
                self.content_type, (), f"{self.content_type} is a request format only"
            )
        return self.decode(data)

    def iter_decode(
        self, source: Source, /, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[RecordBatch]:
        """Batches of at most `batch_size` records from a buffer or a binary stream."""
        raise UnsupportedMediaTypeError(self.content_type, (), "no streaming decoder")
