"""The one table from media type to codec.

Rule 1: a new format is one module in `formats/` and one entry in `_CODECS` (hyperframe's
dispatch dict built from a class list); aliases come from each codec's ``aliases`` and
live in `ALIASES`, next to it.
Rule 2: media types are parsed once, here: case, whitespace and parameters are handled
before a codec sees them; parameters and the caller's options reach the codec through
``from_params``, and a configured codec is immutable.
Rule 3: registering has no import-time side effects; users add formats with
`register_codec`.
Rule 4: the registry uses only what `sm_payloads.codec.Codec` declares: the verbs and the
declared `capabilities` (responses, streaming, raw input), never probing for members.
The top-level verbs that use it (`encode_request`, ...) are in `sm_payloads.api`.
"""

from __future__ import annotations

import inspect
from typing import Any

from .codec import Codec
from .errors import UnsupportedMediaTypeError
from .formats.csv import CsvCodec
from .formats.json import JsonCodec
from .formats.jsonlines import JsonLinesCodec
from .formats.libsvm import LibSVMCodec
from .formats.npy import NpyCodec
from .formats.recordio_protobuf import RecordIOProtobufCodec
from .mime import MediaType

__all__ = [
    "ALIASES",
    "CODECS",
    "Codec",
    "get_codec",
    "register_codec",
    "response_types",
    "streaming_types",
    "supported",
]

_CODECS: tuple[type[Codec], ...] = (
    JsonCodec,
    JsonLinesCodec,
    CsvCodec,
    RecordIOProtobufCodec,
    NpyCodec,
    LibSVMCodec,
)
CODECS: dict[str, type[Codec]] = {c.content_type: c for c in _CODECS}
ALIASES: dict[str, str] = {a: c.content_type for c in _CODECS for a in c.aliases}


def register_codec(codec: type[Codec], *, aliases: tuple[str, ...] = (), replace: bool = False) -> None:
    """Add a codec class: a concrete subclass of `sm_payloads.codec.Codec` (a frozen
    dataclass of its options, with ``content_type``, ``from_params``, ``encode`` and
    ``decode``; see docs/architecture.md)."""
    if not (isinstance(codec, type) and issubclass(codec, Codec)):
        raise TypeError(f"{codec!r} is not a subclass of sm_payloads.codec.Codec")
    if inspect.isabstract(codec):
        missing = ", ".join(sorted(codec.__abstractmethods__))
        raise TypeError(f"{codec.__name__} does not implement {missing}")
    essence = MediaType.parse(codec.content_type).essence
    if not replace and (essence in CODECS or essence in ALIASES):
        raise ValueError(f"a codec for {essence} is already registered (pass replace=True)")
    CODECS[essence] = codec
    for alias in (*codec.aliases, *aliases):
        ALIASES[MediaType.parse(alias).essence] = essence


def supported() -> tuple[str, ...]:
    return tuple(CODECS) + tuple(ALIASES)


def response_types() -> tuple[str, ...]:
    """The media types a response can be written in (request-only formats left out)."""
    return tuple(c for c, k in CODECS.items() if k.capabilities.responses)


def streaming_types() -> tuple[str, ...]:
    """The media types `iter_decode` reads."""
    return tuple(c for c, k in CODECS.items() if k.capabilities.streaming)


#: Codecs configured from a media type alone (no options), by the exact string: the media
#: type's essence, the codec class it named then, and the codec. Used while the registry still
#: names that class for that essence (a codec registered since, or a changed alias, is a
#: miss); bounded as `MediaType.parse`'s memory (at most 256 strings of 256 characters).
_CONFIGURED: dict[str, tuple[str, type[Codec], Codec]] = {}


def get_codec(content_type: str, **options: Any) -> Codec:
    """The codec for a full media type, configured from its parameters and `options` (the
    codec's option names; an unknown name is a ``TypeError``). A codec is immutable, so
    one configured from the same string without options is built once and reused."""
    if not options and type(content_type) is str:
        known = _CONFIGURED.get(content_type)
        if known is not None:
            essence, codec_cls, codec = known
            if CODECS.get(ALIASES.get(essence, essence)) is codec_cls:
                return codec
    try:
        media = MediaType.parse(content_type)
    except UnsupportedMediaTypeError as e:
        raise UnsupportedMediaTypeError(content_type, supported(), e.reason) from None
    essence = ALIASES.get(media.essence, media.essence)
    try:
        codec_cls = CODECS[essence]
    except KeyError:
        raise UnsupportedMediaTypeError(content_type, supported()) from None
    codec = codec_cls.from_params(media.params, **options)
    if not options and type(content_type) is str and len(content_type) <= 256:
        if len(_CONFIGURED) >= 256:
            _CONFIGURED.clear()
        _CONFIGURED[content_type] = (media.essence, codec_cls, codec)
    return codec
