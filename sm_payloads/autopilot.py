"""Autopilot inference keys, the containers' environment variables, and their payloads.

An Autopilot model is a chain of containers (docs/autopilot.md, "Containers"): in HPO mode a feature
transform container, an algorithm container (XGBoost, ...) and, for classification, an
inverse-label-transform (post-processing) container; in ensembling mode one container.
Classification containers answer with up to four keys (`KEYS`): ``predicted_label``,
``probability``, ``probabilities`` and ``labels``, chosen and ordered by the environment
variables ``SAGEMAKER_INFERENCE_SUPPORTED`` / ``_INPUT`` / ``_OUTPUT``.

Rule 1 (SDK parity): `select_inference_response_keys` makes the environment updates and
raises the ``ValueError`` messages of the SageMaker Python SDK v2's
``AutoML.validate_and_update_inference_response``, on copies of the definitions.
Rule 2 (roles): a payload is written as one container *role* writes it: ``"algorithm"``
(the XGBoost container: class indices, ``1,"[0.4, 0.6]"``, JSON keys in a fixed order,
RecordIO-protobuf with its never-cleared record buffer),
``"post-processing"`` (the inverse-label-transform container: original labels,
``csv.writer`` quoting, JSON values passed through as strings) or ``"ensemble"`` (the
ensembling container: original labels, typed JSON values). Writers are exact: Python's
``repr`` for floats, ``str(list)`` for lists, ``json.dumps`` spacing.
Rule 3 (liberal readers): a decoder reads what any role writes: single or double quotes
in ``labels``, any spaces after commas, ints or floats, numbers or numeric strings in JSON,
lists or list literals in strings, ``nan`` / ``NaN`` (or an empty field) for a key the
container does not support. Anything else is a `DecodeError` with its position.
Rule 4 (columns): decoded outputs go to ``batch.label`` in the order of `keys`:
``predicted_label`` float64 ``(N,)`` (algorithm) or ``str`` ``(N,)`` (original labels);
``probability`` float64 ``(N,)``; ``probabilities`` float64 ``(N, k)`` (`Ragged` when a
record lacks it or lengths differ); ``labels`` float64 ``(N, k)`` class indices
(algorithm) or an object column of ``list[str]`` (``None`` where unsupported).
Rule 5: this module imports no machine-learning library; the simulation (`Chain`) takes
the model as plain functions.
Rule 6 (a schema over the codecs): a media type is resolved once by the registry's tables
(aliases included) and selects one entry of `_FORMATS`: the writer and reader of the roles'
values in that format and the options of the registry codec its reader uses
(`get_codec`); `_ROLE_TYPES` says which role writes which types. The simulation adds
two container rules: the inverse label transform reads only ``text/csv`` (and writes only
it without selectable output), and `_PLAIN_REGRESSION` holds the XGBoost container's
answers without selectable output.
Rule 7 (reading at scale): the text formats are read column by column (`_csv_fast`,
`_json_fast`, `_json_parsed`: no Python value per record and key where the shape allows),
then each key's rules run over its whole column; whatever a column route is unsure of
(``nan``, blanks, CRLF, any error) is read by the per-record readers (`_csv_records`,
`_json_records`, `_jsonlines_records`), which position errors, so results and errors are
the same whichever route reads a body.
"""

from __future__ import annotations

import ast
import copy
import functools
import itertools
import json
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

import numpy as np
import orjson

from . import _native
from ._buffers import as_bytes
from ._gcpause import paused
from .codec import Codec
from .columns import column_kind
from .errors import DecodeError, EncodeError, NotAcceptableError, UnsupportedMediaTypeError
from .formats import _csv_text, _textnum
from .formats import _json_layout as _jlayout
from .formats._wire import length_delimited
from .formats.csv import str_column, too_wide
from .mime import MediaType, negotiate
from .record import Ragged, RecordBatch
from .recordio import write_records
from .registry import ALIASES, CODECS, get_codec

if TYPE_CHECKING:
    from .formats.csv import CsvCodec

__all__ = [
    "ALGORITHM_SUPPORTED",
    "CSV",
    "DEFAULT_KEYS",
    "ENV_INPUT",
    "ENV_OUTPUT",
    "ENV_SUPPORTED",
    "JSON",
    "JSONLINES",
    "KEYS",
    "RECORDIO",
    "KEY_INFO",
    "POST_PROCESSING_SUPPORTED",
    "Chain",
    "ContainerKeys",
    "Hop",
    "Invocation",
    "KeyInfo",
    "decode_response",
    "encode_response",
    "inverse_label_transform",
    "parse_environment",
    "parse_keys",
    "select_inference_response_keys",
]

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"

ENV_SUPPORTED = "SAGEMAKER_INFERENCE_SUPPORTED"
ENV_INPUT = "SAGEMAKER_INFERENCE_INPUT"
ENV_OUTPUT = "SAGEMAKER_INFERENCE_OUTPUT"

#: The four keys, in the order the documentation lists them.
KEYS = ("predicted_label", "probability", "probabilities", "labels")
#: What a container answers with when ``SAGEMAKER_INFERENCE_OUTPUT`` is not set.
DEFAULT_KEYS = ("predicted_label",)
#: ``SAGEMAKER_INFERENCE_SUPPORTED`` of the HPO algorithm container (``labels`` is
#: "deliberately not added").
ALGORITHM_SUPPORTED = ("predicted_label", "probability", "probabilities")
#: ``SAGEMAKER_INFERENCE_SUPPORTED`` of the post-processing and ensembling containers.
POST_PROCESSING_SUPPORTED = ("predicted_label", "probability", "labels", "probabilities")

Role = Literal["algorithm", "post-processing", "ensemble"]
_ROLES = ("algorithm", "post-processing", "ensemble")
#: The XGBoost container builds each answer in this key order (its JSON keeps it).
_ALGORITHM_JSON_ORDER = ("predicted_label", "labels", "probability", "probabilities")


# ======================================================================================
# The keys
# ======================================================================================


@dataclass(frozen=True)
class KeyInfo:
    """One inference key: its meaning by problem type and mode, and its column kind."""

    name: str
    binary_hpo: str
    binary_ensemble: str
    multiclass: str
    column: str

    def meaning(self, problem: Literal["binary", "multiclass"], mode: Literal["hpo", "ensemble"]) -> str:
        """What the key holds for a `problem` type in a `mode`.

        >>> KEY_INFO["probability"].meaning("binary", "hpo")
        'probability of the True class (the second class)'
        """
        if problem == "multiclass":
            return self.multiclass
        return self.binary_hpo if mode == "hpo" else self.binary_ensemble


KEY_INFO: Mapping[str, KeyInfo] = {
    k.name: k
    for k in (
        KeyInfo(
            "predicted_label",
            "the label with the highest probability",
            "the label with the highest probability",
            "the label with the highest probability",
            "float64 (N,) class index (algorithm); str (N,) original label (post-processing, ensemble)",
        ),
        KeyInfo(
            "probability",
            "probability of the True class (the second class)",
            "probability of predicted_label",
            "probability of predicted_label",
            "float64 (N,); NaN where the container does not support it",
        ),
        KeyInfo(
            "probabilities",
            "probabilities of all classes, in class order",
            "probabilities of all classes, in class order",
            "probabilities of all classes, in class order",
            "float64 (N, k); Ragged when a record lacks it",
        ),
        KeyInfo(
            "labels",
            "all labels, in class order",
            "all labels, in class order",
            "all labels, in class order",
            "float64 (N, k) class indices (algorithm); object (N,) of list[str] (post-processing, ensemble)",
        ),
    )
}


# ======================================================================================
# Environment variables
# ======================================================================================


def parse_keys(value: str, *, variable: str = ENV_OUTPUT) -> tuple[str, ...]:
    """The keys of one ``SAGEMAKER_INFERENCE_*`` value, in order.

    Entries are separated by commas; spaces around them and upper case are tolerated
    (the containers strip and lower-case). An empty value or entry, an unknown key or a
    key given twice is a ``ValueError`` naming `variable` and the entry.

    >>> parse_keys("predicted_label, probabilities,labels")
    ('predicted_label', 'probabilities', 'labels')
    >>> parse_keys("predicted_label,score")
    Traceback (most recent call last):
      ...
    ValueError: SAGEMAKER_INFERENCE_OUTPUT: unknown key 'score' (entry 2); the keys are ...
    """
    if not isinstance(value, str):
        raise TypeError(f"{variable} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{variable} is empty; expected comma-separated keys")
    out: list[str] = []
    for i, raw in enumerate(value.split(","), 1):
        key = raw.strip().lower()
        if not key:
            raise ValueError(f"{variable}: entry {i} is empty in {value!r}")
        if key not in KEYS:
            raise ValueError(
                f"{variable}: unknown key {raw.strip()!r} (entry {i}); the keys are {', '.join(KEYS)}"
            )
        if key in out:
            raise ValueError(f"{variable}: key {key!r} is listed twice in {value!r}")
        out.append(key)
    return tuple(out)


class ContainerKeys(NamedTuple):
    """The three variables of one container, parsed (None where unset)."""

    supported: tuple[str, ...] | None
    input: tuple[str, ...] | None
    output: tuple[str, ...] | None

    @property
    def emits(self) -> tuple[str, ...]:
        """The keys the container answers with: OUTPUT, or `DEFAULT_KEYS`."""
        return self.output if self.output is not None else DEFAULT_KEYS


def parse_environment(env: Mapping[str, str] | None) -> ContainerKeys:
    """Parse and check a container's ``Environment``.

    Raises ``ValueError`` for a malformed variable (see `parse_keys`) and when OUTPUT
    names a key that SUPPORTED does not list.

    >>> env = {"SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities",
    ...        "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label, probability"}
    >>> keys = parse_environment(env)
    >>> keys.supported, keys.input, keys.output
    (('predicted_label', 'probability', 'probabilities'), None, ('predicted_label', 'probability'))
    """
    env = env or {}
    got = {}
    for var in (ENV_SUPPORTED, ENV_INPUT, ENV_OUTPUT):
        raw = env.get(var)
        got[var] = None if raw is None else parse_keys(raw, variable=var)
    supported, output = got[ENV_SUPPORTED], got[ENV_OUTPUT]
    if supported is not None and output is not None:
        extra = [k for k in output if k not in supported]
        if extra:
            raise ValueError(
                f"{ENV_OUTPUT} lists {', '.join(extra)}, which {ENV_SUPPORTED} "
                f"({', '.join(supported)}) does not"
            )
    return ContainerKeys(supported, got[ENV_INPUT], output)


# ======================================================================================
# The SageMaker SDK's selection of response keys
# ======================================================================================

_SDK_NOT_SUPPORTED = (
    "The inference model does not support selection of inference content beyond it's default "
    "content. Please retry without setting inference_response_keys key word argument."
)


def _sdk_supported(container: Any) -> list[str] | None:
    """The SDK's reading of SUPPORTED: split on commas, entries stripped; None if absent."""
    env = container.get("Environment") if isinstance(container, Mapping) else None
    if not isinstance(env, Mapping) or ENV_SUPPORTED not in env:
        return None
    return [x.strip() for x in str(env[ENV_SUPPORTED]).split(",")]


def select_inference_response_keys(
    containers: list[dict[str, Any]], keys: Sequence[str]
) -> list[dict[str, Any]]:
    """Set the containers' INPUT / OUTPUT variables for `keys`, as the SageMaker SDK v2 does.

    Returns updated deep copies of the container definitions (the arguments are not
    changed). The rules are those of ``AutoML.create_model(inference_response_keys=...)``:

    * no keys: the copies, unchanged;
    * the last container must have ``SAGEMAKER_INFERENCE_SUPPORTED`` (a regression chain
      has none) and list every key (exact, case-sensitive match), else ``ValueError`` with
      the SDK's message;
    * each container with SUPPORTED gets OUTPUT = the requested keys it supports, in the
      requested order, joined by ``","``; and INPUT = the OUTPUT of the container before
      it, when that one had SUPPORTED and at least one key. Duplicates are kept.

    Deliberate differences: `keys` given as one ``str`` is a ``TypeError`` (the SDK would
    treat each character as a key), an empty container list is a ``ValueError`` (the SDK
    raises ``IndexError``), and an ``Environment`` of ``None`` counts as absent (the SDK
    raises ``TypeError``).

    >>> S = "SAGEMAKER_INFERENCE_SUPPORTED"
    >>> c = [{"Environment": {}},
    ...      {"Environment": {S: "predicted_label,probability,probabilities"}},
    ...      {"Environment": {S: "predicted_label,probability,labels,probabilities"}}]
    >>> out = select_inference_response_keys(c, ["predicted_label", "labels", "probability"])
    >>> [e["Environment"].get("SAGEMAKER_INFERENCE_INPUT") for e in out]
    [None, None, 'predicted_label,probability']
    >>> [e["Environment"].get("SAGEMAKER_INFERENCE_OUTPUT") for e in out]
    [None, 'predicted_label,probability', 'predicted_label,labels,probability']
    >>> c[1]["Environment"]
    {'SAGEMAKER_INFERENCE_SUPPORTED': 'predicted_label,probability,probabilities'}
    """
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a sequence of key names, not one str")
    if not isinstance(containers, Sequence) or isinstance(containers, (str, bytes)):
        raise TypeError(
            f"containers must be a list of container definitions, not {type(containers).__name__}"
        )
    out = copy.deepcopy(list(containers))
    requested = list(keys) if keys is not None else []
    if not requested:
        return out
    if not out:
        raise ValueError("no containers: a model has at least one container definition")
    supported = _sdk_supported(out[-1])
    if supported is None:
        raise ValueError(_SDK_NOT_SUPPORTED)
    bad = [k for k in requested if k not in supported]
    if bad:
        raise ValueError(
            f"Requested inference output keys [{', '.join(map(str, bad))}] are unsupported. "
            f"The supported inference keys are [{', '.join(supported)}]"
        )
    previous: str | None = None
    for container in out:
        here = _sdk_supported(container)
        if not here:
            previous = None
            continue
        current: str | None = None
        for k in requested:
            if k in here:
                current = f"{current},{k}" if current else k
        env = container["Environment"]
        if previous:
            env[ENV_INPUT] = previous
        if current:
            env[ENV_OUTPUT] = current
        previous = current
    return out


# ======================================================================================
# Options
# ======================================================================================


def _keys_option(keys: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(keys, str):
        return parse_keys(keys)
    if isinstance(keys, bytes) or not isinstance(keys, Iterable):
        raise TypeError(
            f"keys must be a sequence of key names or a comma-separated str, not {type(keys).__name__}"
        )
    out = tuple(keys)
    if not out:
        raise ValueError("keys is empty; expected at least one of " + ", ".join(KEYS))
    for k in out:
        if k not in KEYS:
            raise ValueError(f"unknown key {k!r}; the keys are {', '.join(KEYS)}")
    if len(set(out)) != len(out):
        dup = next(k for k in out if out.count(k) > 1)
        raise ValueError(f"key {dup!r} is listed twice (a batch has one column per key)")
    return out


def _role_option(role: str) -> Role:
    if role == "inverse-label-transform":
        return "post-processing"
    if role not in _ROLES:
        raise ValueError(f"role must be one of {', '.join(_ROLES)}, not {role!r}")
    out: Role = role  # type: ignore[assignment]
    return out


#: The media types each role writes and reads, in the order errors list them.
_ROLE_TYPES: Mapping[Role, tuple[str, ...]] = {
    "algorithm": (CSV, JSON, JSONLINES, RECORDIO),
    "post-processing": (CSV, JSON, JSONLINES),
    "ensemble": (CSV, JSON, JSONLINES),
}


def _essence(value: str, *, accept: bool, role: Role = "post-processing") -> tuple[str, Mapping[str, str]]:
    """The registry's media type (aliases resolved) of `value` if `role` writes it, and the
    parameters; else `NotAcceptableError` (`accept`) or `UnsupportedMediaTypeError`."""
    supported = _ROLE_TYPES[role]
    try:
        media = MediaType.parse(value)
    except UnsupportedMediaTypeError as e:
        if accept:
            raise NotAcceptableError(value, supported, e.reason) from None
        raise UnsupportedMediaTypeError(value, supported, e.reason) from None
    essence = ALIASES.get(media.essence, media.essence)
    if essence not in supported:
        reason = f"the {role} container does not write {media.essence}"
        if accept:
            raise NotAcceptableError(value, supported, reason)
        raise UnsupportedMediaTypeError(value, supported, reason)
    return essence, media.params


# ======================================================================================
# Values: per-record Python values <-> columns
# ======================================================================================

_MISSING = object()  # a key the container does not support (nan / NaN / empty)


class _Bad(ValueError):
    """A value that does not fit its key (turned into DecodeError with a position)."""


def _label_text(key: str, role: Role) -> bool:
    """Whether `key` holds text (original labels) in `role`."""
    return role != "algorithm" and key in ("predicted_label", "labels")


def _number_text(v: float) -> str:
    return repr(float(v))


def _int_or_float(v: float) -> int | float:
    """An integral finite value as int (as XGBoost writes class indices), else float."""
    f = float(v)
    if math.isfinite(f) and f == int(f):
        return int(f)
    return f


def _as_number(v: Any, what: str) -> float:
    if type(v) is bool or v is None:
        raise _Bad(f"{what}: expected a number, found {_jlayout.describe(v)}")
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            raise _Bad(f"{what}: the number is out of the float64 range") from None
    if isinstance(v, str):
        got = _textnum.parse_number(v.strip().encode("utf-8", "surrogatepass"))
        if got is None:
            raise _Bad(f"{what}: {v[:40]!r} is not a number")
        return got
    raise _Bad(f"{what}: expected a number, found {_jlayout.describe(v)}")


def _is_nan_text(s: bytes | str) -> bool:
    t = s.strip()
    return t == "" or t == b"" or (len(t) == 3 and t.lower() in ("nan", b"nan"))


def _literal_list(text: str) -> list[Any] | None:
    """A Python / JSON list literal (single or double quotes), or None: what
    ``ast.literal_eval`` gives, read from the parse tree where every item is a constant
    (strings, numbers), since each ``literal_eval`` call leaves a reference cycle of its
    nested functions (about 1 kB) that only the cyclic collector frees, and the readers
    pause it (a million such fields held 90 x their body); ``literal_eval`` itself for any
    other item (a negative number, a nested list)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            node = ast.parse(text.lstrip(" \t"), mode="eval").body
            if type(node) in (ast.List, ast.Tuple):
                items = node.elts  # type: ignore[attr-defined]
                if all(type(x) is ast.Constant for x in items):
                    return [x.value for x in items]
            value = ast.literal_eval(text)
    except Exception:  # ast raises many kinds (ValueError, SyntaxError, MemoryError, ...)
        return None
    return value if isinstance(value, (list, tuple)) else None  # type: ignore[return-value]


def _number_list(text: str, what: str) -> list[float]:
    t = text.strip()
    if not (t.startswith("[") and t.endswith("]")):
        raise _Bad(f"{what}: expected a bracketed list of numbers, found {t[:40]!r}")
    inner = t[1:-1].strip()
    if not inner:
        return []
    out = []
    for item in inner.split(","):
        v = _textnum.parse_number(item.strip().encode("utf-8", "surrogatepass"))
        if v is None:
            raise _Bad(f"{what}: {item.strip()[:40]!r} is not a number")
        out.append(v)
    return out


def _text_list(text: str, what: str) -> list[str]:
    t = text.strip()
    if not (t.startswith("[") and t.endswith("]")):
        raise _Bad(f"{what}: expected a bracketed list of labels, found {t[:40]!r}")
    items = _literal_list(t)
    if items is None:
        raise _Bad(f"{what}: not a list literal of labels ({t[:40]!r})")
    return [_label_item(x, what) for x in items]


def _label_item(x: Any, what: str) -> str:
    if isinstance(x, str):
        return x
    if type(x) is bool or not isinstance(x, (int, float)):
        raise _Bad(f"{what}: a label must be a string or a number, found {type(x).__name__}")
    return str(x) if isinstance(x, int) else repr(x)


def _value(key: str, role: Role, v: Any, what: str) -> Any:
    """One record's value of `key` from a decoded JSON value or CSV text (str)."""
    if isinstance(v, float) and math.isnan(v):
        if _label_text(key, role) and key == "predicted_label":
            return "nan"
        return _MISSING
    if key == "predicted_label" and role != "algorithm":
        if isinstance(v, str):
            return v
        if type(v) is bool or not isinstance(v, (int, float)):
            raise _Bad(f"{what}: expected a label, found {_jlayout.describe(v)}")
        return str(v) if isinstance(v, int) else repr(float(v))
    if isinstance(v, str) and _is_nan_text(v):
        return _MISSING
    if key in ("predicted_label", "probability"):
        return _as_number(v, what)
    # a list key
    if isinstance(v, str):
        return _text_list(v, what) if _label_text(key, role) else _number_list(v, what)
    if not isinstance(v, list):
        raise _Bad(f"{what}: expected a list, found {_jlayout.describe(v)}")
    if _label_text(key, role):
        return [_label_item(x, what) for x in v]
    return [_as_number(x, what) if not (isinstance(x, float) and math.isnan(x)) else math.nan for x in v]


def _lines_too_wide(text: bytes, n: int) -> bool:
    """`too_wide` for the `n` lines of UTF-8 `text` (characters counted from the bytes: a
    continuation byte starts none), before any array is built."""
    a = np.frombuffer(text, np.uint8)
    ends = np.append(np.flatnonzero(a == 0x0A), a.size)
    if ends.size != n:
        return False  # not one line per record: the caller's own checks decide
    starts = np.concatenate(([0], ends[:-1] + 1))
    lead = np.zeros(a.size + 1, dtype=np.int64)
    np.cumsum((a & 0xC0) != 0x80, out=lead[1:])  # characters before each byte
    per_line = lead[ends] - lead[starts]  # (a line's end is its newline, not counted)
    return too_wide(int(per_line.max()), int(per_line.sum()), n)


def _column(key: str, role: Role, values: list[Any]) -> Any:
    """The column of one key from its per-record values (`_MISSING` where unsupported)."""
    n = len(values)
    if key == "predicted_label" and role != "algorithm":
        return str_column(values)
    if key in ("predicted_label", "probability"):
        return np.array([math.nan if v is _MISSING else v for v in values], dtype=np.float64)
    if _label_text(key, role):
        col = np.empty(n, dtype=object)
        col[:] = [None if v is _MISSING else list(v) for v in values]
        return col
    rows = [None if v is _MISSING else v for v in values]
    if not n:
        return np.zeros((0, 0), np.float64)
    lengths = {len(r) for r in rows if r is not None}
    if None not in rows and len(lengths) == 1:
        return np.array(rows, dtype=np.float64).reshape(n, -1)
    return Ragged.from_lists(rows, dtype=np.float64)


def _records_of(key: str, col: Any, role: Role, n: int, ct: str) -> list[Any]:
    """Per-record Python values of one output column (`_MISSING` where absent), checked."""
    name = f"label[{key!r}]"
    kind = column_kind(col)

    def fail(reason: str) -> EncodeError:
        return EncodeError(ct, reason, column=name, status_hint=500)

    if key == "predicted_label" and role != "algorithm":
        if kind == "strings":
            out: list[Any] = []
            for v in col.tolist():
                if v is None:
                    out.append(_MISSING)
                elif isinstance(v, bytes):
                    out.append(v.decode("utf-8"))
                elif isinstance(v, str):
                    out.append(v)
                else:
                    raise fail("expected one label (a str) per record, found a list")
            return out
        if kind == "dense" and col.ndim == 1:
            return [_MISSING if math.isnan(float(v)) else _int_or_float(v) for v in col.tolist()]
        raise fail(f"expected one label per record (a str or number column), found {_describe_col(col)}")
    if key in ("predicted_label", "probability"):
        if kind != "dense" or col.ndim != 1 or col.dtype.kind not in "fiu":
            raise fail(f"expected one number per record (N,), found {_describe_col(col)}")
        return [float(v) for v in col.tolist()]
    if _label_text(key, role):
        if kind == "strings":
            if col.ndim == 2:
                return [[str(x) for x in row] for row in col.tolist()]
            if col.ndim == 1 and col.dtype.kind == "O":
                rows: list[Any] = []
                for v in col.tolist():
                    if v is None:
                        rows.append(_MISSING)
                    elif isinstance(v, (list, tuple)):
                        rows.append([x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in v])
                    else:
                        raise fail("expected a list of labels per record, found a single string")
                return rows
        if kind == "dense" and col.ndim == 2 and col.dtype.kind in "fiu":
            return [[_label_item(_int_or_float(x), name) for x in row] for row in col.tolist()]
        raise fail(f"expected a list of labels per record, found {_describe_col(col)}")
    if kind == "dense" and col.ndim == 2 and col.dtype.kind in "fiu":
        return [[float(x) for x in row] for row in col.tolist()]
    if kind == "ragged" and col.dtype.kind in "fiu":
        return [_MISSING if r is None else [float(x) for x in r.tolist()] for r in col]
    raise fail(f"expected a list of numbers per record (N, k), found {_describe_col(col)}")


def _describe_col(col: Any) -> str:
    kind = column_kind(col)
    if kind in ("dense", "strings") and isinstance(col, np.ndarray):
        return f"a {kind} column of dtype {col.dtype} and shape {col.shape}"
    return f"a {kind} column"


# ======================================================================================
# Writing
# ======================================================================================


def _csv_field(key: str, v: Any, role: Role) -> str:
    """The text of one value as the container writes it in CSV (unquoted)."""
    if v is _MISSING:
        return "nan"
    if key == "predicted_label":
        return v if isinstance(v, str) else str(_int_or_float(v))
    if key == "probability":
        return _number_text(v)
    if _label_text(key, role):
        return repr([str(x) for x in v])
    if key == "labels":
        return "[" + ", ".join(str(_int_or_float(x)) for x in v) + "]"
    return "[" + ", ".join(_number_text(x) for x in v) + "]"


def _label_entry(key: str, values: list[float]) -> bytes:
    """``label`` map entry ``key`` -> ``Value{float32_tensor{values}}`` (values rounded to
    float32 as protobuf rounds them)."""
    with np.errstate(over="ignore", invalid="ignore"):
        packed = np.asarray(values, dtype=np.float64).astype("<f4").tobytes()
    tensor = length_delimited(1, packed) if packed else b""
    entry = length_delimited(1, key.encode("utf-8")) + length_delimited(2, length_delimited(2, tensor))
    return length_delimited(2, entry)


def _write_recordio(
    n: int, cols: dict[str, list[Any]], keys: tuple[str, ...], role: Role, sagemaker_batch: bool
) -> bytes:
    """The XGBoost container's RecordIO-protobuf answer, its accumulation included: it never
    clears its buffer of serialized records, so frame i holds records 0..i one after the
    other (protobuf's last-value-wins reading still gives record i's values). Keys in the
    container's order."""
    order = [k for k in _ALGORITHM_JSON_ORDER if k in keys]
    frames: list[bytes] = []
    seen = b""
    for i in range(n):
        record = b""
        for k in order:
            v = cols[k][i]
            values = [math.nan] if v is _MISSING else (list(v) if isinstance(v, list) else [v])
            record += _label_entry(k, values)
        seen += record
        frames.append(seen)
    return write_records(frames, escape=False)


def _json_value(key: str, v: Any, role: Role) -> Any:
    """One value as the container puts it in its JSON answer."""
    if v is _MISSING or (isinstance(v, float) and math.isnan(v)):
        return math.nan
    if role == "post-processing":
        # container 3 passes container 2's CSV text through: every value is a string
        return _csv_field(key, v, role)
    if key == "predicted_label":
        return v if isinstance(v, str) else _int_or_float(v)
    if key == "probability":
        return float(v)
    if _label_text(key, role):
        return [str(x) for x in v]
    if key == "labels":
        return [_int_or_float(x) for x in v]
    return [float(x) for x in v]


def _to_records(data: Any, keys: tuple[str, ...], role: Role, ct: str) -> tuple[int, dict[str, list[Any]]]:
    if isinstance(data, RecordBatch):
        batch = data
        if batch.features:
            key = next(iter(batch.features))
            raise EncodeError(
                ct,
                "Autopilot responses hold their outputs in label; the batch has features",
                column=f"features[{key!r}]",
            )
        missing = [k for k in keys if k not in batch.label]
        if missing:
            raise EncodeError(
                ct, f"no output {missing[0]!r} in the batch's label", column=f"label[{missing[0]!r}]"
            )
        n = len(batch)
        return n, {k: _records_of(k, batch.label[k], role, n, ct) for k in keys}
    if (
        isinstance(data, Sequence)
        and not isinstance(data, (str, bytes))
        and all(isinstance(r, Mapping) for r in data)
    ):
        cols: dict[str, list[Any]] = {k: [] for k in keys}
        for i, rec in enumerate(data):
            for k in keys:
                if k not in rec:
                    raise EncodeError(ct, f"record {i} has no {k!r}", column=f"label[{k!r}]", status_hint=400)
                v = rec[k]
                if isinstance(v, (np.ndarray, np.generic)):
                    v = v.tolist()  # numpy scalars and arrays as Python values (float32 widened)
                try:
                    cols[k].append(_value(k, role, v, f"record {i}: {k}"))
                except _Bad as e:
                    raise EncodeError(ct, str(e), column=f"label[{k!r}]", status_hint=400) from None
        return len(data), cols
    raise EncodeError(
        ct, f"cannot encode {type(data).__name__}; expected a RecordBatch or a list of dicts", status_hint=400
    )


def _write_csv(
    n: int, cols: dict[str, list[Any]], keys: tuple[str, ...], role: Role, sagemaker_batch: bool
) -> bytes:
    """CSV rows: the XGBoost container's (joined by ``\\n``, lists quoted, a final ``\\n``
    under Batch Transform) or ``csv.writer``'s (each row ending with ``\\n``)."""
    if role == "algorithm":
        rows = []
        for i in range(n):
            fields = []
            for k in keys:
                v = cols[k][i]
                text = _csv_field(k, v, role)
                fields.append(f'"{text}"' if k in ("probabilities", "labels") and v is not _MISSING else text)
            rows.append(",".join(fields))
        body = "\n".join(rows) + ("\n" if sagemaker_batch else "")
    else:
        # csv.writer(lineterminator="\n") rows, as the inference containers write them
        alone = len(keys) == 1
        body = "".join(
            ",".join(
                _csv_text.quote_field(_csv_field(k, cols[k][i], role), alone, lineterminator="\n")
                for k in keys
            )
            + "\n"
            for i in range(n)
        )
    return body.encode("utf-8")


def _json_objects(
    n: int, cols: dict[str, list[Any]], keys: tuple[str, ...], role: Role
) -> list[dict[str, Any]]:
    """One object per record: keys in the XGBoost container's order (algorithm) or in `keys`."""
    order = [k for k in _ALGORITHM_JSON_ORDER if k in keys] if role == "algorithm" else list(keys)
    return [{k: _json_value(k, cols[k][i], role) for k in order} for i in range(n)]


def _write_json(
    n: int, cols: dict[str, list[Any]], keys: tuple[str, ...], role: Role, sagemaker_batch: bool
) -> bytes:
    return json.dumps({"predictions": _json_objects(n, cols, keys, role)}).encode("utf-8")


def _write_jsonlines(
    n: int, cols: dict[str, list[Any]], keys: tuple[str, ...], role: Role, sagemaker_batch: bool
) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in _json_objects(n, cols, keys, role)).encode("utf-8")


# ======================================================================================
# Reading
# ======================================================================================


def _empty(keys: tuple[str, ...], role: Role) -> RecordBatch:
    return RecordBatch(label={k: _column(k, role, []) for k in keys}, n=0)


def _regroup(rec: Any, width: int) -> tuple[list[bytes], list[int]]:
    """The fields of a tokenized row, with unquoted list literals joined again: the
    XGBoost container writes plain batch answers as bare ``[0.1, 0.9]`` (docs/algorithms.md,
    "XGBoost").
    A row that already has one field per key is left as it is (a label may start with
    ``[``: ``[,[0.5]`` is the label ``[`` and a list)."""
    fields: list[bytes] = rec.fields
    # read once: a record without quotes works them out on every access
    quoted: list[bool] = rec.quoted
    if len(fields) == width or not any(
        not q and f.lstrip().startswith(b"[") for f, q in zip(fields, quoted, strict=True)
    ):
        return fields, rec.offsets
    offsets: list[int] = rec.offsets
    out: list[bytes] = []
    offs: list[int] = []
    j = 0
    dead = 0  # the fields before it open no list: the closing field an opener sought is not there
    while j < len(fields):
        f = fields[j]
        if j >= dead and not quoted[j] and f.lstrip().startswith(b"[") and not f.rstrip().endswith(b"]"):
            end = j + 1
            while end < len(fields) and not quoted[end] and not fields[end].rstrip().endswith(b"]"):
                end += 1
            if end < len(fields) and not quoted[end]:
                out.append(b",".join(fields[j : end + 1]))
                offs.append(offsets[j])
                j = end + 1
                continue
            dead = end  # an opener before `end` would stop at `end` too (each scan is linear once)
        out.append(f)
        offs.append(offsets[j])
        j += 1
    return out, offs


#: The CSV reader tokenizes at most this many records at a time and turns them into pieces
#: of columns before it reads on, so its Python objects per record and per field stay a
#: bounded working set whatever the size of the body (a Batch Transform output of GBs).
_CSV_PIECE_RECORDS = 2048


class _NumberLists:
    """The pieces of a list-of-numbers column: each piece's values flat (float64) and its
    records' lengths (-1 where the record has none); `column` is `_column` of all records."""

    def __init__(self) -> None:
        self.flat: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def add(self, values: list[Any]) -> None:
        lengths = np.array([-1 if v is _MISSING else len(v) for v in values], dtype=np.int64)
        self.lengths.append(lengths)
        self.flat.append(np.array([x for v in values if v is not _MISSING for x in v], dtype=np.float64))

    def column(self, key: str, role: Role) -> Any:
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)
        flat = np.concatenate(self.flat) if self.flat else np.zeros(0, np.float64)
        n = lengths.size
        if n and lengths.min() >= 0 and lengths.min() == lengths.max():
            return flat.reshape(n, int(lengths[0]))
        # Missing records or lists of several lengths (rare): the records' lists as _column
        # takes them.
        rows: list[Any] = []
        at = 0
        for k in lengths.tolist():
            if k < 0:
                rows.append(_MISSING)
            else:
                rows.append(flat[at : at + k].tolist())
                at += k
        return _column(key, role, rows)


# --------------------------------------------------------------------------------------
# Reading column by column (Rule 7): the fast routes of the text formats
# --------------------------------------------------------------------------------------

#: The exact number converter of the CSV reader (``numbers``: one number per line, the CSV
#: grammar); None on the pure path, where ``float`` reads the same lines to the same values.
_CNUM = _native.load("formats._cparse")
#: The response column reader (``json_records``, strings as joined text) and the ``str``
#: array builder (``ucs4_lines``); None on the pure path.
_CREC = _native.load("formats._cjsonrec")
#: The bytes of a number the fast routes read: `_textnum.NUMBER_RE` without blanks and
#: without the words ``nan`` / ``inf`` (over these bytes ``float`` reads exactly the
#: fields that pattern matches).
_NUMBER_BYTES = b"0123456789+-.eE"
#: The start of ``{"predictions": ...`` (JSON blanks only).
_PREDICTIONS = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"predictions"[ \t\r\n]*:')


class _Decline(Exception):
    """The fast route is unsure (an error, or a shape it does not read): the per-record
    reader decides, so results and errors stay that reader's."""


def _number_lines(text: bytes, n: int) -> np.ndarray | None:
    """The float64 of the `n` lines of `text` (``\\n``-separated), each one number made of
    `_NUMBER_BYTES`; None when a line is anything else (empty, blanks, ``nan``...)."""
    if text.count(b"\n") != n - 1 or text.translate(None, _NUMBER_BYTES + b"\n"):
        return None
    if _CNUM is not None:
        got = _CNUM.numbers(text, 0, False)
        return None if got is None else np.frombuffer(got, np.float64).copy()
    try:
        return np.array(list(map(float, text.split(b"\n"))), dtype=np.float64)
    except ValueError:
        return None


def _number_lists(text: bytes, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The numbers of the `n` lines of `text`, each a bracketed number list (``[0.4,
    0.6]``) that `_number_list` reads, as (float64 values, int64 count per line); None when
    a line is anything else (an empty list, ``nan``, a tab...). The C reader
    (``number_lists``), else this function's numpy steps, its twin."""
    if _CNUM is not None:
        got = _CNUM.number_lists(text, n)
        return None if got is None else (np.frombuffer(got[0], np.float64), np.frombuffer(got[1], np.int64))
    if text.count(b"\n") != n - 1 or text.translate(None, _NUMBER_BYTES + b"[], \n"):
        return None
    packed = text.translate(None, b" ")
    # blanks may stand around an item, not inside one: they join no two number bytes (a
    # blank after a comma never does)
    spaces = len(text) - len(packed)
    if spaces and spaces != text.count(b", ") and _number_pairs(packed) != _number_pairs(text):
        return None
    if packed.count(b"[") != n or packed.count(b"]") != n or packed[:1] != b"[" or packed[-1:] != b"]":
        return None
    a = np.frombuffer(packed, np.uint8)
    ends = np.flatnonzero(a == 0x0A)
    if not ((a[ends - 1] == 0x5D).all() and (a[ends + 1] == 0x5B).all()):
        return None  # each line one bracketed list: "[" first, "]" last
    items = packed.translate(None, b"[]")
    # an empty list leaves an empty line, an empty item an empty one too: refused
    values = _number_lines(items.replace(b",", b"\n"), items.count(b",") + n)
    if values is None:
        return None
    a = np.frombuffer(items, np.uint8)
    seps = a[(a == 0x2C) | (a == 0x0A)]
    last = np.flatnonzero(seps == 0x0A)  # each record's end, as the index of its separator
    return values, np.diff(last, prepend=-1, append=seps.size)


#: The missing values (`_is_nan_text`) the column routes read: an empty field and ``nan``
#: in any case, without blanks.
_NAN_LINES = frozenset([b""] + [bytes(c) for c in itertools.product(*((x, x - 32) for x in b"nan"))])


def _number_column(key: str, text: bytes, n: int) -> Any:
    """The column `_column` builds from `_value` of each of the `n` lines of `text`
    (numbers, or bracketed number lists for a list key), where a line may also be missing
    (`_NAN_LINES`: NaN, or no list); None when a line is anything else."""
    scalar = key in ("predicted_label", "probability")
    parts = _number_lines(text, n) if scalar else _number_lists(text, n)
    missing = None
    if parts is None:
        lines = text.split(b"\n")
        flags = list(map(_NAN_LINES.__contains__, lines))
        if len(lines) != n or not any(flags):
            return None
        missing = np.array(flags, dtype=bool)
        m = n - int(np.count_nonzero(missing))
        rest = b"\n".join(itertools.compress(lines, map(operator.not_, flags)))
        if m == 0:
            parts = np.zeros(0) if scalar else (np.zeros(0), np.zeros(0, np.int64))
        else:
            parts = _number_lines(rest, m) if scalar else _number_lists(rest, m)
        if parts is None:
            return None
    if isinstance(parts, np.ndarray):
        if missing is None:
            return parts
        out = np.full(n, math.nan)
        out[~missing] = parts
        return out
    values, counts = parts
    if missing is None and (counts == counts[0]).all():
        return values.reshape(n, int(counts[0]))
    lengths = np.zeros(n, np.int64)
    if missing is None:
        lengths[:] = counts
    else:
        lengths[~missing] = counts
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Ragged(values, offsets, None if missing is None else ~missing)


#: Which bytes belong to a number (`_NUMBER_BYTES`).
_IS_NUMBER_BYTE = np.zeros(256, dtype=bool)
_IS_NUMBER_BYTE[np.frombuffer(_NUMBER_BYTES, np.uint8)] = True


def _number_pairs(text: bytes) -> int:
    """How many pairs of adjacent bytes of `text` both belong to numbers."""
    is_num = _IS_NUMBER_BYTE[np.frombuffer(text, np.uint8)]
    return int(np.count_nonzero(is_num[:-1] & is_num[1:]))


class _Texts:
    """One key's `n` values as text: CSV fields joined by ``\\n`` in `charset` (`joined`),
    or the strings of a JSON column (`strs`); each form is made from the other when asked."""

    def __init__(
        self, n: int, *, joined: bytes | None = None, strs: list[str] | None = None, charset: str = "utf-8"
    ) -> None:
        self.n = n
        self._joined = joined
        self._strs = strs
        self.charset = charset
        self._unjoinable = False

    def joined(self) -> bytes | None:
        """The values joined by ``\\n`` (UTF-8), or None when a value holds a ``\\n``."""
        if self._joined is None and self._strs is not None and not self._unjoinable:
            text = "\n".join(self._strs).encode("utf-8", "surrogatepass")
            if text.count(b"\n") != self.n - 1:
                self._unjoinable = True
                return None
            self._joined = text
        return self._joined

    def strs(self) -> list[str]:
        """The values as text (`_Decline` when a field is not text in the charset)."""
        if self._strs is None:
            assert self._joined is not None
            try:
                self._strs = self._joined.decode(self.charset).split("\n")
            except UnicodeDecodeError:
                raise _Decline from None
        return self._strs


def _label_lists(strs: list[str]) -> Any:
    """The ``labels`` column (original labels) of texts like ``['a', 'b']``: each distinct
    text read once by `_text_list`, each record given its own list."""
    read: dict[str, list[str] | None] = {}
    for s in set(strs):
        try:
            read[s] = None if _is_nan_text(s) else _text_list(s, "")
        except _Bad:
            raise _Decline from None
    rows = (None if v is None else v.copy() for v in map(read.__getitem__, strs))
    return np.fromiter(rows, dtype=object, count=len(strs))


def _per_record(key: str, role: Role, strs: list[str]) -> Any:
    """`_column` of `_value` of each text: the per-record rules, for what the vectorized
    readers decline (``nan``, empty fields, blanks...)."""
    try:
        values = [_value(key, role, s, "") for s in strs]
    except _Bad:
        raise _Decline from None
    return _column(key, role, values)


def _ascii_lines(text: bytes, n: int) -> np.ndarray:
    """The `n` lines of ASCII `text` as the ``str`` array ``np.array(lines, dtype=str)``
    builds (as wide as the longest), made from the bytes without a Python object per line."""
    a = np.frombuffer(text, np.uint8)
    ends = np.flatnonzero(a == 0x0A)
    starts = np.concatenate(([0], ends + 1))
    lengths = np.append(ends, a.size) - starts
    width = max(int(lengths.max()), 1)
    out = np.zeros(n * width, dtype=np.uint8)
    # byte k of line r goes to r * width + k
    shift = np.repeat(np.arange(n, dtype=np.int64) * width - starts, lengths)
    keep = np.flatnonzero(a != 0x0A)
    out[keep + shift] = a[keep]
    return out.view(f"S{width}").astype(f"<U{width}")


def _str_lines(text: bytes, n: int) -> np.ndarray | None:
    """The `n` lines of `text` as the ``str`` array ``np.array(lines, dtype=str)`` builds
    (as wide as the longest): the C builder, else `_ascii_lines` for ASCII; None where the
    lines must be decoded first (not UTF-8, or not ASCII on the pure path)."""
    if _CREC is not None:
        got = _CREC.ucs4_lines(text, n)
        return None if got is None else np.frombuffer(got[0], dtype=f"<U{got[1]}")
    return _ascii_lines(text, n) if text.isascii() else None


def _text_column(key: str, role: Role, texts: _Texts) -> Any:
    """The column of one key from its values as text, by `_value`'s rules."""
    if key == "predicted_label" and role != "algorithm":
        joined = texts.joined()
        if (
            joined is not None
            and (texts.charset == "utf-8" or joined.isascii())
            and not _lines_too_wide(joined, texts.n)
        ):
            got = _str_lines(joined, texts.n)
            if got is not None:
                return got
        return str_column(texts.strs())
    if _label_text(key, role):
        return _label_lists(texts.strs())
    joined = texts.joined()
    if joined is not None:
        got = _number_column(key, joined, texts.n)
        if got is not None:
            return got
    return _per_record(key, role, texts.strs())


def _json_column(key: str, role: Role, col: Any) -> Any:
    """The column of one key from the response reader's column of numbers (float64
    ``(n,)``) or of number lists (float64 ``(n, k)``)."""
    if _label_text(key, role):
        raise _Decline  # numbers as labels: their text (1 or 1.0) is gone
    if (col.ndim == 1) != (key in ("predicted_label", "probability")):
        raise _Decline  # a list where a number belongs, or the reverse: an error
    return col


def _json_fast(
    raw: bytes | bytearray, start: int, lines: bool, keys: tuple[str, ...], role: Role
) -> RecordBatch | None:
    """A JSON or JSON Lines body of records of scalars, column by column (the C reader of
    `_json_layout.response_fast`, or its twin), or None: the per-record reader decides."""
    if not lines and _PREDICTIONS.match(raw, start) is None:
        return None
    # the C reader hands a strings column over as its texts joined by "\n", so that the
    # key's rules read it without a str per record; the twin gives the strs. NaN and
    # Infinity are numbers, as the per-record reader reads them.
    if _CREC is not None:
        got = _CREC.json_records(raw, start, len(raw), lines, False, True, True)
    else:
        got = _jlayout.records_pure(raw, start, len(raw), lines, False, True, empties=False)
    if got is None:
        return None
    n, cols = got
    if len(cols) != len(keys) or set(keys) != {c[0] for c in cols}:
        return None
    try:
        label: dict[str, Any] = {}
        for key, kind, payload, width, index in cols:
            if index is not None:
                return None  # a record without a key: the per-record reader's error
            if kind == "s":
                texts = _Texts(n, joined=payload) if isinstance(payload, bytes) else _Texts(n, strs=payload)
                label[key] = _text_column(key, role, texts)
                continue
            if kind in ("r", "N"):  # ragged, nested lists: the per-record reader
                return None
            col = _jlayout.record_column(n, key, kind, payload, width, None)
            if col is None:
                return None
            label[key] = _json_column(key, role, col)
    except _Decline:
        return None
    return RecordBatch(label={k: label[k] for k in keys}, n=n)


def _per_value(key: str, role: Role, values: list[Any]) -> Any:
    """`_column` of `_value` of each JSON value (the per-record rules, without the rest of
    the per-record reader)."""
    try:
        return _column(key, role, [_value(key, role, v, "") for v in values])
    except _Bad:
        raise _Decline from None


def _object_column(key: str, role: Role, values: list[Any]) -> Any:
    """The column of one key from its JSON values, one per record, by `_value`'s rules:
    the usual shapes with one numpy call or one pass, anything else value by value."""
    types = set(map(type, values))
    if types == {str}:
        return _text_column(key, role, _Texts(len(values), strs=values))
    if key == "predicted_label" and role != "algorithm":
        return _per_value(key, role, values)
    if key in ("predicted_label", "probability"):
        if types <= {int, float}:
            try:  # float() of each, as _as_number; NaN stays NaN, as _MISSING becomes
                return np.fromiter(map(float, values), dtype=np.float64, count=len(values))
            except OverflowError:
                raise _Decline from None
        return _per_value(key, role, values)
    if types != {list}:
        return _per_value(key, role, values)
    if _label_text(key, role):
        if not set(map(type, itertools.chain.from_iterable(values))) <= {str}:
            return _per_value(key, role, values)
        # orjson's lists: one per record already, and nobody else's
        return np.fromiter(values, dtype=object, count=len(values))
    flat = list(itertools.chain.from_iterable(values))
    widths = set(map(len, values))
    if len(widths) != 1 or not set(map(type, flat)) <= {int, float}:
        return _per_value(key, role, values)
    try:
        out = np.fromiter(map(float, flat), dtype=np.float64, count=len(flat))
    except OverflowError:
        raise _Decline from None
    return out.reshape(len(values), widths.pop())


def _json_parsed(
    raw: bytes | bytearray, start: int, lines: bool, keys: tuple[str, ...], role: Role
) -> RecordBatch | None:
    """A JSON or JSON Lines body parsed by orjson (what the per-record reader parses),
    then column by column (`_object_column`), or None: the per-record reader decides (an
    empty body, ``NaN``, an error)."""
    try:
        if lines:
            items = [orjson.loads(t) for t in raw[start:].split(b"\n") if t.strip()]
        else:
            doc = orjson.loads(raw[start:] if start else raw)
            if type(doc) is not dict or list(doc) != ["predictions"] or type(doc["predictions"]) is not list:
                return None
            items = doc["predictions"]
            del doc
    except (orjson.JSONDecodeError, MemoryError):
        return None
    names = set(keys)
    if (
        not items
        or set(map(type, items)) != {dict}
        or not all(map(operator.eq, map(dict.keys, items), itertools.repeat(names)))
    ):
        return None
    try:
        label = {k: _object_column(k, role, list(map(operator.itemgetter(k), items))) for k in keys}
    except _Decline:
        return None
    return RecordBatch(label=label, n=len(items))


def _csv_split(raw: bytes | bytearray, lo: int, width: int) -> tuple[int, list[bytes]] | None:
    """The records of ``raw[lo:]`` as `width` columns, each column's fields joined by
    ``\\n`` (quotes removed): (n, columns), or None unless every record is one line of
    exactly `width` fields, ``\\n`` line ends (no ``\\r``, no blank line) and fields either
    unquoted (no ``"``) or quoted whole without ``""`` or a line end inside."""
    size = len(raw) - lo
    if size <= 0 or raw.find(b"\r", lo) >= 0:
        return None
    if raw[-1] == 0x0A:
        size -= 1  # the last line end
    a = np.frombuffer(raw, np.uint8, size, lo)
    nl = a == 0x0A
    nls = np.flatnonzero(nl)
    if size == 0 or (nls.size and (nls[0] == 0 or nls[-1] == size - 1 or (np.diff(nls) == 1).any())):
        return None  # a blank line
    sep = nl | (a == 0x2C)
    quoted = raw.find(b'"', lo) >= 0
    if quoted:
        isq = a == 0x22
        q = np.flatnonzero(isq)
        if q.size % 2 or (np.diff(q) == 1).any():
            return None  # an odd quote, or "" (an escaped quote, or an empty quoted field)
        opens, closes = q[0::2], q[1::2]
        # a quote opens a field (after a separator) and closes it (before one): then the
        # quotes pair up as the tokenizer reads them
        if not sep[opens[opens > 0] - 1].all() or not sep[closes[closes < size - 1] + 1].all():
            return None
        inside = np.bitwise_xor.accumulate(isq.view(np.uint8)).view(bool)
        if (inside & nl).any():
            return None  # a line end inside quotes
        sep &= ~inside  # separators outside quotes
    seps = np.flatnonzero(sep)
    if (seps.size + 1) % width:
        return None
    grid = np.append(seps, size).reshape(-1, width)
    n = grid.shape[0]
    if not (a[grid[:, :-1]] == 0x2C).all() or not (a[grid[:-1, -1]] == 0x0A).all():
        return None
    if width == 1:
        body = bytes(a)
        return n, [body.replace(b'"', b"") if quoted else body]
    # field k holds its bytes and the separator after it; every record has `width` fields,
    # so field k belongs to column k mod width
    lengths = np.diff(grid.reshape(-1), prepend=-1)
    column_of = np.repeat(np.tile(np.arange(width, dtype=np.uint8), n), lengths)[:size]
    lengths = lengths.reshape(n, width)
    columns = []
    for j in range(width):
        col = a[column_of == j]
        col[np.cumsum(lengths[:, j])[:-1] - 1] = 0x0A  # each separator but the last
        text = col[:-1].tobytes() if j < width - 1 else col.tobytes()  # not the last comma
        columns.append(text.replace(b'"', b"") if quoted else text)
    return n, columns


def _csv_fast(
    raw: bytes | bytearray, lo: int, keys: tuple[str, ...], role: Role, charset: str
) -> RecordBatch | None:
    """A CSV body of one-line records, column by column (`_csv_split`, then each key's rules
    over its whole column), or None: the per-record reader decides."""
    if raw.find(b"\r", lo) >= 0:
        if raw.count(b"\r", lo) != raw.count(b"\r\n", lo):
            return None  # a "\r" that does not end a line
        raw, lo = raw[lo:].replace(b"\r\n", b"\n"), 0  # CRLF line ends, read as "\n" ones
    got = _CNUM.csv_columns(raw, lo, len(keys)) if _CNUM is not None else _csv_split(raw, lo, len(keys))
    if got is None:
        return None
    n, columns = got
    try:
        label = {
            k: _text_column(k, role, _Texts(n, joined=c, charset=charset))
            for k, c in zip(keys, columns, strict=True)
        }
    except _Decline:
        return None
    return RecordBatch(label=label, n=n)


def _decode_csv(codec: Codec, body: Any, keys: tuple[str, ...], role: Role, content_type: str) -> RecordBatch:
    try:
        charset = _csv_text.charset_option(cast("CsvCodec", codec).charset)
    except ValueError as e:
        raise UnsupportedMediaTypeError(content_type, (CSV, JSON, JSONLINES), str(e)) from None
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    raw = as_bytes(body, text=True)
    pos = _csv_text.body_start(raw)
    with paused(len(raw)):
        fast = _csv_fast(raw, pos, keys, role, charset)
    return fast if fast is not None else _csv_records(raw, pos, keys, role, charset)


def _csv_records(
    raw: bytes | bytearray, pos: int, keys: tuple[str, ...], role: Role, charset: str
) -> RecordBatch:
    """The per-record CSV reader: the one that positions errors, and the route for what
    `_csv_fast` declines."""
    hi = len(raw)
    width = len(keys)
    number_lists = {
        k: _NumberLists()
        for k in keys
        if k not in ("predicted_label", "probability") and not _label_text(k, role)
    }
    pieces: dict[str, list[Any]] = {k: [] for k in keys if k not in number_lists}
    n = 0
    line = 1
    while pos < hi:
        stop = _csv_text.record_ends(raw, pos, hi, _CSV_PIECE_RECORDS, True)[0]
        recs, line = _csv_text.tokenize(raw, pos, stop, line, 0, n)
        pos = stop
        if not recs:
            continue
        values: dict[str, list[Any]] = {k: [] for k in keys}
        for r, rec in enumerate(recs):
            i = n + r
            fields, offsets = _regroup(rec, width)
            if len(fields) != width:
                at = offsets[width] if len(fields) > width else rec.end
                raise DecodeError(
                    CSV,
                    f"row has {len(fields)} fields for {width} keys ({', '.join(keys)})",
                    offset=at,
                    record_index=i,
                    line=rec.line,
                )
            for j, k in enumerate(keys):
                text = _csv_text.field_text(fields[j], charset, offsets[j], rec.line, i)
                try:
                    values[k].append(_value(k, role, text, f"column {j + 1} ({k})"))
                except _Bad as e:
                    raise DecodeError(CSV, str(e), offset=offsets[j], record_index=i, line=rec.line) from None
        for k in keys:
            if k in number_lists:
                number_lists[k].add(values[k])
            else:
                pieces[k].append(_column(k, role, values[k]))
        n += len(recs)
    if not n:
        return _empty(keys, role)
    label = {
        k: number_lists[k].column(k, role) if k in number_lists else np.concatenate(pieces[k]) for k in keys
    }
    return RecordBatch(label=label, n=n)


def _object_values(
    obj: Any, keys: tuple[str, ...], role: Role, values: dict[str, list[Any]], where: str
) -> None:
    if type(obj) is not dict:
        raise _Bad(f"{where}: expected an object, found {_jlayout.describe(obj)}")
    for name in obj:
        if name not in keys:
            raise _Bad(f"{where}: unexpected key {name!r}; expected {', '.join(keys)}")
    for k in keys:
        if k not in obj:
            raise _Bad(f"{where}: no {k!r}")
        values[k].append(_value(k, role, obj[k], f"{where}.{k}"))


def _json_text(body: Any, keys: tuple[str, ...], role: Role, lines: bool) -> RecordBatch:
    """A JSON (`lines` false) or JSON Lines answer: the column routes, else the per-record
    reader of the format."""
    raw = as_bytes(body, text=True)
    start = _jlayout.skip_bom(raw)
    with paused(len(raw)):
        fast = _json_fast(raw, start, lines, keys, role)
        if fast is None:
            fast = _json_parsed(raw, start, lines, keys, role)
    if fast is not None:
        return fast
    return (_jsonlines_records if lines else _json_records)(raw, start, keys, role)


def _decode_json(
    codec: Codec, body: Any, keys: tuple[str, ...], role: Role, content_type: str
) -> RecordBatch:
    return _json_text(body, keys, role, False)


def _json_records(raw: bytes | bytearray, start: int, keys: tuple[str, ...], role: Role) -> RecordBatch:
    """The per-record JSON reader: the one that positions errors, and the route for what
    the column readers decline."""
    if not raw[start:].strip():
        return _empty(keys, role)
    try:
        doc = _jlayout.loads(raw, start, len(raw), True)
    except _jlayout.SyntaxProblem as p:
        raise DecodeError(
            JSON, p.reason, offset=None if p.offset is None else start + p.offset, line=p.line
        ) from None
    if type(doc) is not dict or list(doc) != ["predictions"] or type(doc["predictions"]) is not list:
        raise DecodeError(JSON, 'expected {"predictions": [...]} (one object per record)', offset=start)
    values: dict[str, list[Any]] = {k: [] for k in keys}
    for i, obj in enumerate(doc["predictions"]):
        try:
            _object_values(obj, keys, role, values, f"$.predictions[{i}]")
        except _Bad as e:
            del doc
            off = _jlayout.path_offset(raw, start, len(raw), str(e))
            raise DecodeError(JSON, str(e), offset=off, record_index=i) from None
    return RecordBatch(label={k: _column(k, role, values[k]) for k in keys}, n=len(doc["predictions"]))


def _decode_jsonlines(
    codec: Codec, body: Any, keys: tuple[str, ...], role: Role, content_type: str
) -> RecordBatch:
    return _json_text(body, keys, role, True)


def _jsonlines_records(raw: bytes | bytearray, pos: int, keys: tuple[str, ...], role: Role) -> RecordBatch:
    """The per-record JSON Lines reader: the one that positions errors, and the route for
    what the column readers decline."""
    values: dict[str, list[Any]] = {k: [] for k in keys}
    line = 1
    n = 0
    size = len(raw)
    while pos < size:
        nl = raw.find(b"\n", pos)
        end = size if nl < 0 else nl
        text = raw[pos:end]
        if text.strip():
            at = pos + (len(text) - len(text.lstrip()))
            try:
                obj = _jlayout.loads(raw, pos, end, True)
            except _jlayout.SyntaxProblem as p:
                off = at if p.offset is None else pos + p.offset
                raise DecodeError(JSONLINES, p.reason, offset=off, record_index=n, line=line) from None
            try:
                _object_values(obj, keys, role, values, "$")
            except _Bad as e:
                named = _jlayout.path_offset(raw, pos, end, str(e))
                raise DecodeError(
                    JSONLINES, str(e), offset=at if named is None else named, record_index=n, line=line
                ) from None
            n += 1
        pos = end + 1
        line += 1
    if n == 0:
        return _empty(keys, role)
    return RecordBatch(label={k: _column(k, role, values[k]) for k in keys}, n=n)


def _recordio_values(col: Any) -> list[Any] | None:
    """Per-record lists of floats (None where absent) of a decoded label column."""
    kind = column_kind(col)
    with np.errstate(invalid="ignore"):  # a signalling NaN widens quietly
        if kind == "dense" and col.dtype.kind in "fiu" and col.ndim in (1, 2):
            rows = col.astype(np.float64).tolist()
            return [[r] if col.ndim == 1 else r for r in rows]
        if kind == "ragged" and col.dtype.kind in "fiu":
            return [None if r is None else r.astype(np.float64).tolist() for r in col]
    return None


def _decode_recordio(
    codec: Codec, body: Any, keys: tuple[str, ...], role: Role, content_type: str
) -> RecordBatch:
    """The algorithm container's frames, read by the registry's codec (float32 tensors in
    ``label``), checked against `keys`."""
    if isinstance(body, str):
        raise DecodeError(RECORDIO, "expected bytes, got str (RecordIO-protobuf is binary)")
    batch = codec.decode(body)
    if batch.features:
        name = next(iter(batch.features))
        raise DecodeError(RECORDIO, f"the algorithm container writes label only; found features[{name!r}]")
    for name in batch.label:
        if name not in keys:
            raise DecodeError(RECORDIO, f"unexpected key {name!r}; expected {', '.join(keys)}")
    if len(batch) == 0:
        return _empty(keys, role)
    label: dict[str, Any] = {}
    for k in keys:
        if k not in batch.label:
            raise DecodeError(RECORDIO, f"no {k!r}", record_index=0)
        rows = _recordio_values(batch.label[k])
        if rows is None:
            raise DecodeError(RECORDIO, f"{k!r}: expected Float32Tensor values", record_index=0)
        values: list[Any] = []
        for i, row in enumerate(rows):
            if row is None:
                raise DecodeError(RECORDIO, f"no {k!r}", record_index=i)
            if len(row) == 1 and math.isnan(row[0]):
                values.append(_MISSING)
            elif k in ("predicted_label", "probability"):
                if len(row) != 1:
                    raise DecodeError(
                        RECORDIO, f"{k!r}: expected one value, found {len(row)}", record_index=i
                    )
                values.append(row[0])
            else:
                values.append(row)
        label[k] = _column(k, role, values)
    return RecordBatch(label=label, n=len(batch))


# ======================================================================================
# The formats: a media type's codec and the rules Autopilot adds to it
# ======================================================================================


_Options = tuple[tuple[str, Any], ...]


def _no_options(params: Mapping[str, str]) -> _Options:
    return ()


def _csv_options(params: Mapping[str, str]) -> _Options:
    return (("charset", params.get("charset", "utf-8")),)  # checked when a body is read


def _recordio_options(params: Mapping[str, str]) -> _Options:
    return (("copy", True),)


@functools.lru_cache(maxsize=64)
def _codec(content_type: str, registered: type[Codec] | None, options: _Options) -> Codec:
    """`get_codec`'s codec, kept (codecs are immutable); the registered class is part of the
    key, so a codec that replaces it in the registry is used from then on."""
    return get_codec(content_type, **dict(options))


_Writer = Callable[[int, dict[str, list[Any]], tuple[str, ...], Role, bool], bytes]
_Reader = Callable[[Codec, Any, tuple[str, ...], Role, str], RecordBatch]


class _Format(NamedTuple):
    """What Autopilot adds to one media type: how the roles write and read their values
    (the answers are the containers' own bytes, so writing needs no codec; reading gets the
    registry's codec, configured by `options` from the media type's parameters), and the
    body of an answer without records."""

    content_type: str
    write: _Writer  # (n, columns of per-record values, keys, role, sagemaker_batch)
    read: _Reader  # (codec, body, keys, role, the content type as given)
    empty: bytes = b""
    options: Callable[[Mapping[str, str]], _Options] = _no_options

    def codec(self, params: Mapping[str, str]) -> Codec:
        return _codec(self.content_type, CODECS.get(self.content_type), self.options(params))


#: The formats by the registry's content type; `_ROLE_TYPES` says which role uses which.
_FORMATS: Mapping[str, _Format] = {
    f.content_type: f
    for f in (
        _Format(CSV, _write_csv, _decode_csv, options=_csv_options),
        _Format(JSON, _write_json, _decode_json, empty=b'{"predictions": []}'),
        _Format(JSONLINES, _write_jsonlines, _decode_jsonlines),
        _Format(RECORDIO, _write_recordio, _decode_recordio, options=_recordio_options),
    )
}


def encode_response(
    batch: Any,
    accept: str,
    keys: Sequence[str] | str,
    *,
    role: str = "post-processing",
    sagemaker_batch: bool = False,
) -> bytes:
    """Write the answer of an Autopilot container for `keys`, exactly as `role` writes it.

    Parameters
    ----------
    batch : RecordBatch or list of dict
        The outputs in ``batch.label``, one column per key (kinds: see the module's
        Rule 4), or one dict per record (``{"predicted_label": "cat", ...}``).
    accept : str
        ``text/csv``, ``application/json`` or ``application/jsonlines``; for the
        algorithm role also ``application/x-recordio-protobuf`` (float32 tensors in
        ``label``, frame i holding records 0..i as the XGBoost container writes them).
    keys : sequence of str, or the ``SAGEMAKER_INFERENCE_OUTPUT`` value
        The keys in their variable's order (the CSV column order).
    role : "algorithm", "post-processing" or "ensemble"
        ``"algorithm"``: the XGBoost container (CSV rows joined by ``\\n``, lists as
        ``"[0.4, 0.6]"``; JSON keys in its fixed order ``predicted_label, labels,
        probability, probabilities``). ``"post-processing"`` (alias
        ``"inverse-label-transform"``): ``csv.writer`` rows, each ending with ``\\n``;
        JSON values as strings, keys in `keys` order. ``"ensemble"``: CSV as
        post-processing, JSON with typed values (the ensembling container has no public
        code: inferred; docs/autopilot.md, "Ensembling container").
    sagemaker_batch : bool
        Algorithm role only: the container runs under Batch Transform (``SAGEMAKER_BATCH``
        set) and ends its CSV with ``\\n``.

    >>> import numpy as np, sm_payloads as smp
    >>> b = smp.RecordBatch(label={"predicted_label": np.array([1.0, 0.0]),
    ...                            "probabilities": np.array([[0.4, 0.6], [0.9, 0.1]])})
    >>> encode_response(b, "text/csv", ["predicted_label", "probabilities"], role="algorithm")
    b'1,"[0.4, 0.6]"\\n0,"[0.9, 0.1]"'
    """
    ks = _keys_option(keys)
    r = _role_option(role)
    essence, _ = _essence(accept, accept=True, role=r)
    fmt = _FORMATS[essence]
    n, cols = _to_records(batch, ks, r, fmt.content_type)
    if n == 0:
        return fmt.empty
    return fmt.write(n, cols, ks, r, sagemaker_batch)


def decode_response(
    body: bytes | bytearray | memoryview | str,
    content_type: str,
    keys: Sequence[str] | str,
    *,
    role: str = "post-processing",
) -> RecordBatch:
    """Read the answer of an Autopilot container that was asked for `keys`.

    Parameters
    ----------
    body : bytes-like or str
    content_type : str
        ``text/csv`` (a ``charset`` parameter is honoured), ``application/json`` or
        ``application/jsonlines``; for the algorithm role also
        ``application/x-recordio-protobuf`` (decoded to float64 like the text formats).
    keys : sequence of str, or a ``SAGEMAKER_INFERENCE_OUTPUT`` value
        The keys the container writes, in its variable's order: CSV column ``j`` is
        ``keys[j]``; JSON objects must hold exactly these keys (in any order).
    role : "algorithm", "post-processing" or "ensemble"
        Chooses the column kinds of ``predicted_label`` and ``labels``: class indices
        (float64) for ``"algorithm"``, original labels (``str``) otherwise. Every role's
        spelling is read (single or double quotes, spaces after commas, ints or floats,
        numeric strings, ``nan`` / ``NaN`` / empty for an unsupported key).

    Returns
    -------
    RecordBatch
        ``label`` holds one column per key, in `keys` order.

    >>> b = decode_response(b"True.,0.8,\\"['False.', 'True.']\\"\\n", "text/csv",
    ...                     "predicted_label,probability,labels")
    >>> b.label["predicted_label"].tolist(), b.label["probability"].tolist(), b.label["labels"].tolist()
    (['True.'], [0.8], [['False.', 'True.']])
    """
    ks = _keys_option(keys)
    r = _role_option(role)
    essence, params = _essence(content_type, accept=False, role=r)
    fmt = _FORMATS[essence]
    return fmt.read(fmt.codec(params), body, ks, r, content_type)


# ======================================================================================
# Simulation: the containers of an Autopilot model
# ======================================================================================


def inverse_label_transform(
    batch: RecordBatch, classes: Sequence[str], output_keys: Sequence[str] | str
) -> RecordBatch:
    """What the post-processing container computes from its decoded input.

    `batch` is container 2's answer read with ``role="algorithm"`` and the INPUT keys;
    for each of `output_keys`: ``predicted_label`` becomes ``classes[index]``, ``labels``
    the list of `classes`, a key present in the input passes through, and a key absent
    from it is NaN (``"nan"`` for ``predicted_label``). The result has the
    post-processing role's column kinds.

    >>> import numpy as np, sm_payloads as smp
    >>> got = smp.RecordBatch(label={"predicted_label": np.array([1.0]), "probability": np.array([0.8])})
    >>> out = inverse_label_transform(got, ["False.", "True."], ["predicted_label", "labels", "probability"])
    >>> out.label["predicted_label"].tolist(), out.label["labels"].tolist(), out.label["probability"].tolist()
    (['True.'], [['False.', 'True.']], [0.8])
    """
    ks = _keys_option(output_keys)
    names = [str(c) for c in classes]
    n = len(batch)
    label: dict[str, Any] = {}
    for k in ks:
        if k == "labels":
            label[k] = _column(k, "post-processing", [list(names)] * n)
        elif k not in batch.label:
            label[k] = _column(k, "post-processing", ["nan" if k == "predicted_label" else _MISSING] * n)
        elif k == "predicted_label":
            idx = []
            for v in _records_of(k, batch.label[k], "algorithm", n, CSV):
                if not (math.isfinite(v) and v == int(v) and 0 <= int(v) < len(names)):
                    raise ValueError(f"predicted_label {v!r} is not a class index of {len(names)} classes")
                idx.append(names[int(v)])
            label[k] = _column(k, "post-processing", idx)
        else:
            label[k] = batch.label[k]
    return RecordBatch(label=label, n=n)


@dataclass(frozen=True)
class Hop:
    """One container's request and answer in an invocation of a `Chain`."""

    container: int
    role: str
    content_type: str
    request: bytes
    accept: str
    response: bytes


@dataclass(frozen=True)
class Invocation:
    """Every hop of one request through a `Chain`; `body` is what the caller receives."""

    hops: tuple[Hop, ...]

    @property
    def body(self) -> bytes:
        return self.hops[-1].response

    @property
    def content_type(self) -> str:
        return self.hops[-1].accept


PredictFn = Callable[[Any], Any]


class Chain:
    """A simulated Autopilot model: its container definitions and a model as functions.

    The mode follows the container list, as Autopilot builds it: one container is
    ensembling mode; two are HPO regression (feature transform, algorithm); three are HPO
    classification (feature transform, algorithm, inverse label transform).

    Parameters
    ----------
    containers : list of dict
        Container definitions (``Environment`` is read: ``SAGEMAKER_INFERENCE_*``,
        ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, ``AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF``);
        for example the output of `select_inference_response_keys`.
    predict : callable
        HPO: the algorithm container's model, on the transformed features. Ensembling:
        the whole model, on the raw features. Classification: ``(N, k)`` class
        probabilities (scikit-learn's ``predict_proba``), or ``(N,)`` probabilities of
        class 1 for a binary model; regression: ``(N,)`` values.
    transform : callable, optional
        HPO: the feature transform container's model (raw ``(N, d)`` float64 features to
        a dense or scipy sparse matrix). Default: identity.
    classes : sequence, optional
        The original labels in class order (the label encoder's classes); None for
        regression.

    How each container answers (docs/autopilot.md): container 1 reads CSV and writes
    RecordIO-protobuf (sparse when ``AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF=1``, float32);
    container 2 behaves as the XGBoost container with ``binary:logistic`` (two classes:
    ``p = float32(P(class 1))``, ``probabilities = [1 - p, p]`` computed in float64) or
    ``multi:softprob`` (float32 probabilities), or as a float32 regressor (plain answer,
    one value per line); container 3 applies `inverse_label_transform`. The last container
    answers in the caller's Accept, the others in their
    ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``.
    """

    def __init__(
        self,
        containers: Sequence[Mapping[str, Any]],
        *,
        predict: PredictFn,
        transform: PredictFn | None = None,
        classes: Sequence[Any] | None = None,
    ) -> None:
        if not 1 <= len(containers) <= 3:
            raise ValueError(f"an Autopilot model has 1, 2 or 3 containers, not {len(containers)}")
        self.containers = [copy.deepcopy(dict(c)) for c in containers]
        self.envs = [dict(c.get("Environment") or {}) for c in self.containers]
        self.keys = [parse_environment(env) for env in self.envs]
        self.predict = predict
        self.transform = transform
        self.classes = None if classes is None else [str(c) for c in classes]
        self.mode: Literal["hpo", "ensemble"] = "ensemble" if len(containers) == 1 else "hpo"
        if len(containers) == 3 and self.classes is None:
            raise ValueError("an HPO classification chain (3 containers) needs classes")
        if len(containers) == 2 and self.classes is not None:
            raise ValueError("a 2-container HPO chain is a regression model: pass classes=None")
        for i in range(1, len(self.keys)):
            want, got = self.keys[i].input, self.keys[i - 1].output
            if want is not None and want != self.keys[i - 1].emits:
                raise ValueError(
                    f"container {i} expects {ENV_INPUT}={','.join(want)} but container {i - 1} "
                    f"emits {','.join(got or DEFAULT_KEYS)}"
                )

    # -- the containers ---------------------------------------------------------------

    def _default_accept(self, i: int) -> str:
        return str(self.envs[i].get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", CSV))

    def _features(self, body: bytes) -> Any:
        return get_codec(CSV).decode(body).to_numpy()

    def _feature_transform(self, body: bytes) -> bytes:
        from .record import from_dense, from_sparse

        X = self._features(body)
        Z = X if self.transform is None else self.transform(X)
        accept = self._default_accept(0)
        if hasattr(Z, "tocsr"):
            batch = from_sparse(Z.tocsr().astype(np.float32))
        elif self.envs[0].get("AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF") == "1":
            import scipy.sparse as sp

            batch = from_sparse(sp.csr_array(np.asarray(Z, dtype=np.float32)))
        else:
            batch = from_dense(np.asarray(Z, dtype=np.float32))
        return get_codec(accept).encode(batch)

    def _algorithm(self, body: bytes, content_type: str, accept: str, sagemaker_batch: bool) -> bytes:
        X = get_codec(content_type).decode(body).to_numpy()
        pred = np.asarray(self.predict(X))
        if self.classes is None:
            return _plain_regression(pred, accept, sagemaker_batch)
        p = pred.astype(np.float32)
        keys = self.keys[1].emits
        if p.ndim == 1 or p.shape[1] == 2:  # binary:logistic
            p1 = p if p.ndim == 1 else p[:, 1]
            label = {
                "predicted_label": (p1 > 0.5).astype(np.float64),
                "probability": p1.astype(np.float64),
                "probabilities": np.column_stack([1.0 - p1.astype(np.float64), p1.astype(np.float64)]),
                "labels": np.tile(np.arange(2, dtype=np.float64), (len(p1), 1)),
            }
        else:  # multi:softprob
            label = {
                "predicted_label": np.argmax(p, axis=1).astype(np.float64),
                "probability": p.max(axis=1).astype(np.float64),
                "probabilities": p.astype(np.float64),
                "labels": np.tile(np.arange(p.shape[1], dtype=np.float64), (len(p), 1)),
            }
        out = RecordBatch(label={k: label[k] for k in keys}, n=len(p))
        return encode_response(out, accept, keys, role="algorithm", sagemaker_batch=sagemaker_batch)

    def _post_process(self, body: bytes, content_type: str, accept: str) -> bytes:
        assert self.classes is not None
        keys = self.keys[2]
        if MediaType.parse(content_type).essence != CSV:
            raise UnsupportedMediaTypeError(
                content_type, (CSV,), "the inverse label transform container reads text/csv only"
            )
        if keys.input is None and keys.output is None and _essence(accept, accept=True)[0] != CSV:
            raise NotAcceptableError(
                accept,
                (CSV,),
                f"Accept type '{accept}' is not supported during inverse label transformation.",
            )
        got = decode_response(body, content_type, keys.input or DEFAULT_KEYS, role="algorithm")
        out = inverse_label_transform(got, self.classes, keys.emits)
        return encode_response(out, accept, keys.emits, role="post-processing")

    def _ensemble(self, body: bytes, accept: str) -> bytes:
        X = self._features(body)
        pred = np.asarray(self.predict(X))
        if self.classes is None:
            return _plain_regression(pred, accept, False)
        proba = pred.astype(np.float64)
        if proba.ndim == 1:  # P(class 1) of a binary model
            proba = np.column_stack([1.0 - proba, proba])
        idx = np.argmax(proba, axis=1)
        names = self.classes
        n = len(proba)
        keys = self.keys[0].emits
        label = {
            "predicted_label": _column("predicted_label", "ensemble", [names[int(i)] for i in idx]),
            "probability": proba[np.arange(n), idx],
            "probabilities": proba,
            "labels": _column("labels", "ensemble", [list(names)] * n),
        }
        out = RecordBatch(label={k: label[k] for k in keys}, n=n)
        return encode_response(out, accept, keys, role="ensemble")

    # -- requests ---------------------------------------------------------------------

    def invoke(self, body: bytes, accept: str | None = CSV, *, sagemaker_batch: bool = False) -> Invocation:
        """Send one CSV request through every container; returns each hop's payloads.

        `accept` is the caller's Accept header: None or ``*/*`` gets the last container's
        ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (else ``text/csv``), as the containers
        do; a type no container writes is a `NotAcceptableError`.

        `sagemaker_batch` runs the containers as under Batch Transform (the XGBoost
        container then ends its CSV with a newline).
        """
        hops: list[Hop] = []
        last = len(self.containers) - 1
        accept = negotiate(accept, (CSV, JSON, JSONLINES), self._default_accept(last))
        if self.mode == "ensemble":
            hops.append(Hop(0, "ensemble", CSV, body, accept, self._ensemble(body, accept)))
            return Invocation(tuple(hops))
        acc0 = self._default_accept(0)
        hops.append(Hop(0, "feature-transform", CSV, body, acc0, self._feature_transform(body)))
        acc1 = accept if last == 1 else self._default_accept(1)
        hops.append(
            Hop(
                1,
                "algorithm",
                acc0,
                hops[0].response,
                acc1,
                self._algorithm(hops[0].response, acc0, acc1, sagemaker_batch),
            )
        )
        if last == 2:
            hops.append(
                Hop(
                    2,
                    "inverse-label-transform",
                    acc1,
                    hops[1].response,
                    accept,
                    self._post_process(hops[1].response, acc1, accept),
                )
            )
        return Invocation(tuple(hops))

    def transform_job(
        self,
        data: bytes,
        accept: str = CSV,
        *,
        strategy: Literal["SingleRecord", "MultiRecord"] = "MultiRecord",
        max_payload_mb: int = 6,
        assemble_with: Literal["None", "Line"] = "Line",
    ) -> bytes:
        """The ``.out`` object a Batch Transform job writes for one CSV input object
        (``SplitType=Line``, the documented Autopilot setting).

        With a JSON Accept and ``MultiRecord`` each mini-batch is one JSON document (one
        line of the output).
        """
        from . import batch as _batch

        records = _batch.split(data, "Line")
        bodies = _batch.mini_batches(records, strategy, max_payload_mb, "Line")
        outputs = [self.invoke(b, accept, sagemaker_batch=True).body for b in bodies]
        return _batch.assemble(outputs, assemble_with)


def _plain_csv(values: np.ndarray) -> bytes:
    if not values.size:
        return b""
    return ("\n".join(str(v) for v in values) + "\n").encode("ascii")


def _plain_json(values: np.ndarray) -> bytes:
    return json.dumps({"predictions": [{"score": float(v)} for v in values]}).encode("ascii")


#: The XGBoost container's writers without selectable output, by content type.
_PLAIN_REGRESSION: Mapping[str, Callable[[np.ndarray], bytes]] = {CSV: _plain_csv, JSON: _plain_json}


def _plain_regression(pred: Any, accept: str, sagemaker_batch: bool) -> bytes:
    """The XGBoost container's answer without selectable output: float32 values."""
    values = np.asarray(pred, dtype=np.float32).reshape(-1)
    essence, _ = _essence(accept, accept=True)
    write = _PLAIN_REGRESSION.get(essence)
    if write is None:
        raise NotAcceptableError(
            accept,
            tuple(_PLAIN_REGRESSION),
            "the XGBoost container writes no JSON Lines without selectable output",
        )
    return write(values)
