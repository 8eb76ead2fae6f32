"""Media types (RFC 9110 §8.3): ``type/subtype *(OWS ";" OWS name=value)``.

Rule 1: type, subtype and parameter names are lower-cased; parameter values are kept
verbatim (quoted strings are unquoted), because servers disagree on value case
(``verbose=true`` vs ``verbose=True``).
Rule 2: whitespace around ``;`` and ``=`` is tolerated (serving containers see
``text/csv;label_size = 1`` in the wild); a parameter given twice, a missing ``=``, or a
media type that is not first is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import UnsupportedMediaTypeError

__all__ = ["MediaType"]

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TYPE_RE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})\s*")
_PARAM_RE = re.compile(rf";\s*({_TOKEN})\s*=\s*(?:({_TOKEN})|\"((?:[^\"\\]|\\.)*)\")\s*")
_EMPTY_PARAM_RE = re.compile(r";\s*")


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
        return cls(m.group(1), m.group(2), params)

    def __str__(self) -> str:
        def q(v: str) -> str:
            return v if re.fullmatch(_TOKEN, v) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

        return self.essence + "".join(f"; {k}={q(v)}" for k, v in self.params.items())
