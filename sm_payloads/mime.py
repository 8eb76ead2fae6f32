"""Media types (RFC 9110 §8.3): ``type/subtype *(OWS ";" OWS name=value)``.

Rule 1: type, subtype and parameter names are lower-cased; parameter values are kept
verbatim (quoted strings are unquoted), because servers disagree on value case
(``verbose=true`` vs ``verbose=True``).
Rule 2: whitespace around ``;`` and ``=`` is tolerated (serving containers see
``text/csv;label_size = 1`` in the wild); a parameter given twice, a missing ``=``, or a
media type that is not first is an error.
Rule 3: a `MediaType` is immutable, so `MediaType.parse` remembers what it parsed: a server
sees the same few ``Content-Type`` and ``Accept`` strings on every request. The memory is
bounded (`_PARSED_MAX` strings of at most `_PARSED_MAX_CHARS` characters; a full memory
starts again empty) and holds only successful parses: a malformed value is parsed, and
refused, every time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import NotAcceptableError, UnsupportedMediaTypeError

__all__ = ["MediaType", "negotiate", "parse_accept"]

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TYPE_RE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})\s*")
# A parameter value is a token or a quoted string; unquoted commas are allowed too, because
# AWS documents Object2Vec's ``infer_max_seqlens=5,5`` that way (Accept members are split on
# commas before they get here, so only a Content-Type can carry one).
_PARAM_RE = re.compile(rf";\s*({_TOKEN})\s*=\s*(?:({_TOKEN}(?:,{_TOKEN})*)|\"((?:[^\"\\]|\\.)*)\")\s*")
_EMPTY_PARAM_RE = re.compile(r";\s*")

#: Media types parsed before, by the exact string (Rule 3).
_PARSED: dict[str, MediaType] = {}
#: How many strings `_PARSED` holds at most, and the longest one it holds.
_PARSED_MAX = 256
_PARSED_MAX_CHARS = 256


@dataclass(frozen=True, slots=True)
class MediaType:
    """A parsed media type.

    >>> m = MediaType.parse('Text/CSV; label_size=1; charset="utf-8"')
    >>> m.essence, dict(m.params)
    ('text/csv', {'label_size': '1', 'charset': 'utf-8'})
    """

    type: str
    subtype: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", self.type.lower())
        object.__setattr__(self, "subtype", self.subtype.lower())
        object.__setattr__(self, "params", MappingProxyType({k.lower(): v for k, v in self.params.items()}))

    @property
    def essence(self) -> str:
        """``type/subtype`` without parameters, lower-case."""
        return f"{self.type}/{self.subtype}"

    @classmethod
    def parse(cls, value: str) -> MediaType:
        """Parse a ``Content-Type`` / ``Accept`` member; raise `UnsupportedMediaTypeError`."""
        if not isinstance(value, str):
            raise UnsupportedMediaTypeError(repr(value), (), "a media type must be a string")
        if cls is MediaType:
            known = _PARSED.get(value)
            if known is not None:
                return known
        m = _TYPE_RE.match(value)
        if not m:
            raise UnsupportedMediaTypeError(value, (), "malformed media type")
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(value):
            pm = _PARAM_RE.match(value, pos)
            if not pm:
                em = _EMPTY_PARAM_RE.match(value, pos)
                if em and (em.end() == len(value) or value[em.end()] == ";"):
                    pos = em.end()  # an empty parameter ("text/csv;") is tolerated
                    continue
                raise UnsupportedMediaTypeError(value, (), f"malformed parameter at character {pos}")
            name = pm.group(1).lower()
            if name in params:
                raise UnsupportedMediaTypeError(value, (), f"parameter {name!r} given twice")
            raw = pm.group(2)
            if raw is None:
                raw = re.sub(r"\\(.)", r"\1", pm.group(3))
            params[name] = raw
            pos = pm.end()
        media = cls(m.group(1), m.group(2), params)
        if cls is MediaType and len(value) <= _PARSED_MAX_CHARS and type(value) is str:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()  # atomic under the GIL, unlike evicting one entry by iterating
            _PARSED[value] = media
        return media

    def __str__(self) -> str:
        def q(v: str) -> str:
            return v if re.fullmatch(_TOKEN, v) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

        return self.essence + "".join(f"; {k}={q(v)}" for k, v in self.params.items())


# --------------------------------------------------------------------------------------
# Accept (RFC 9110 §12.5.1)
# --------------------------------------------------------------------------------------

_QVALUE_RE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


@dataclass(frozen=True, slots=True)
class AcceptRange:
    """One member of an ``Accept`` header: a media range, its weight and its position."""

    media: MediaType
    q: float
    index: int

    @property
    def specificity(self) -> int:
        """2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*``."""
        if self.media.type == "*":
            return 0
        return 1 if self.media.subtype == "*" else 2

    def matches(self, media: MediaType) -> bool:
        """Whether this range covers `media` (by type and subtype; parameters are options)."""
        return self.media.type in ("*", media.type) and self.media.subtype in ("*", media.subtype)


def _split_members(header: str) -> list[str]:
    """Split on commas outside quoted strings."""
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in header:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def parse_accept(header: str) -> list[AcceptRange]:
    """The members of an ``Accept`` header, in header order.

    Parameters after ``q`` (accept extensions) are dropped; ``q`` must be a valid qvalue
    (0 to 1, at most three decimals). Empty members (``"a/b,,c/d"``) are skipped; a
    malformed member is a `NotAcceptableError` (HTTP 406), as is a header with no member.

    >>> [(str(r.media), r.q) for r in parse_accept("text/csv;q=0.5, application/json")]
    [('text/csv', 0.5), ('application/json', 1.0)]
    """
    ranges = []
    for index, member in enumerate(_split_members(header)):
        if not member.strip():
            continue
        try:
            media = MediaType.parse(member)
        except UnsupportedMediaTypeError as e:
            raise NotAcceptableError(header, (), f"malformed member {member.strip()!r}: {e.reason}") from None
        if media.type == "*" and media.subtype != "*":
            raise NotAcceptableError(header, (), f"malformed member {member.strip()!r}: '*/' needs '*'")
        params: dict[str, str] = {}
        q = 1.0
        for name, value in media.params.items():
            if name == "q":
                if not _QVALUE_RE.fullmatch(value):
                    raise NotAcceptableError(header, (), f"bad q value {value!r} in {member.strip()!r}")
                q = float(value)
                break  # what follows q are accept extensions, not media type parameters
            params[name] = value
        ranges.append(AcceptRange(MediaType(media.type, media.subtype, params), q, index))
    if not ranges:
        raise NotAcceptableError(header, (), "no media range in the header")
    return ranges


def negotiate(accept_header: str | None, offered: Sequence[str], default: str | None = None) -> str:
    """Choose the response media type for an ``Accept`` header.

    `offered` are the types the server can produce, in its order of preference. With no
    header, an empty one, or exactly ``*/*``, the answer is `default` (SageMaker's
    ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` convention), or the first offered type when
    there is no default.

    Otherwise every offered type gets the weight of the most specific range that covers it
    (``type/subtype`` over ``type/*`` over ``*/*``); ``q=0`` rules a type out. The heaviest
    wins; ties go to the more specific range, then to the range listed first, then to the
    default, then to the order of `offered`.

    The answer is the client's own media type, parameters included (they are options for
    the encoder, such as ``verbose=true``), when a concrete range chose it, and the
    offered type when a wildcard did.

    Raises `NotAcceptableError` (HTTP 406) when nothing acceptable is offered, and
    `ValueError` when `default` is not among `offered` (a server misconfiguration).

    >>> negotiate("application/json;q=0.5, text/csv", ["application/json", "text/csv"])
    'text/csv'
    >>> negotiate("*/*", ["application/json", "text/csv"], default="text/csv")
    'text/csv'
    >>> negotiate("application/JSON; verbose=True", ["application/json"])
    'application/json; verbose=True'
    """
    if not offered:
        raise ValueError("negotiate needs at least one offered media type")
    offers = [MediaType.parse(o) for o in offered]
    essences = [m.essence for m in offers]
    if default is not None and MediaType.parse(default).essence not in essences:
        raise ValueError(f"default {default!r} is not among the offered types")
    fallback = default if default is not None else offered[0]
    if accept_header is None or not accept_header.strip() or accept_header.strip() == "*/*":
        return fallback
    try:
        ranges = parse_accept(accept_header)
    except NotAcceptableError as e:
        raise NotAcceptableError(accept_header, offered, e.reason) from None
    default_essence = None if default is None else MediaType.parse(default).essence
    best: tuple[tuple[float, int, int, int, int], int, AcceptRange] | None = None
    for i, offer in enumerate(offers):
        covering = [r for r in ranges if r.matches(offer)]
        if not covering:
            continue
        top = max(covering, key=lambda r: (r.specificity, len(r.media.params), -r.index))
        if top.q <= 0:
            continue
        key = (top.q, top.specificity, -top.index, int(offer.essence == default_essence), -i)
        if best is None or key > best[0]:
            best = (key, i, top)
    if best is None:
        raise NotAcceptableError(accept_header, offered)
    _, i, top = best
    return str(top.media) if top.specificity == 2 else offered[i]
