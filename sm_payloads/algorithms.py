"""Response schemas of the SageMaker built-in algorithms, and codecs that follow them.

Each built-in algorithm answers with a fixed set of output keys (docs/algorithms.md, "At a
glance", and one section per algorithm): k-means writes ``closest_cluster`` and
``distance_to_cluster``, PCA ``projection`` under the envelope ``projections``, and so
on. An `AlgorithmSchema` records those keys, their kinds (a scalar or a vector per
record), the tensor dtype the algorithm computes in (float32 for all of them), the
variants (Linear Learner's predictor types, k-NN's and IP Insights' ``verbose`` answers),
the JSON envelope and the Accept types the algorithm writes.

Rule 1 (what the algorithm writes): `encode_response` writes the bytes the algorithm
writes: the algorithm's envelope; numbers as JSON floats (a cluster index is ``7.0``, not
``7``), float32 values widened to float64 and printed with the shortest text that reads
back (``0.6533935070037842``, as every captured AWS response shows); ``", "`` and ``": "``
between items as Python's ``json`` writes them (Object2Vec's JSON Lines: compact);
RecordIO-protobuf with one Record per input, the outputs in ``label`` as Float32Tensors
(scalars and one-element vectors without ``shape``); CSV (k-means only) in the schema's
key order. JSON keys follow the batch's column order (decoding keeps the wire order, so a
decoded body writes back byte for byte).
Rule 2 (strict both ways): a batch with a missing or extra output, an output of the wrong
kind, vectors of different lengths, or a value that float32 cannot hold exactly (for
RecordIO-protobuf) is an `EncodeError` naming the output; a body with another envelope,
other keys, or a number where a list belongs (or the reverse) is a `DecodeError` naming
the record. An Accept the algorithm does not write is a `NotAcceptableError` listing the
ones it does.
Rule 3 (numbers in): numbers read from text decode to float64 (the library's convention for
every text format: float64 holds each decimal text as the writer meant it);
RecordIO-protobuf keeps its tensors' dtype; ``dtype="schema"`` gives the schema's dtypes
instead.
Rule 4 (one codec per media type): the bytes are read and written by the registry's codec
for the media type (`sm_payloads.registry.get_codec`), configured from the schema: the
JSON envelope, the CSV key order, the dtypes, ``allow_nan``. What a media type adds to the
schema beyond its codec (Float32Tensors, the envelope check, Python ``json``'s spacing) is
one entry of `_WIRES`, not a branch per media type.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import orjson

from ._buffers import as_bytes
from .codec import Codec
from .columns import column_kind
from .errors import DecodeError, EncodeError, NotAcceptableError, UnsupportedMediaTypeError
from .formats import _json_layout as _jlayout
from .mime import MediaType
from .record import Ragged, RecordBatch
from .registry import ALIASES, CODECS, get_codec

__all__ = [
    "JSON",
    "JSONLINES",
    "RECORDIO",
    "SCHEMAS",
    "CSV",
    "AlgorithmSchema",
    "Output",
    "Variant",
    "decode_response",
    "encode_response",
    "get",
]

JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"

Kind = Literal["scalar", "vector"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
#: Largest integer magnitude below which every integer is a float32.
_F32_INT = 2**24


# ======================================================================================
# Schemas
# ======================================================================================


@dataclass(frozen=True)
class Output:
    """One output key: ``scalar`` (one number per record, column ``(N,)``) or ``vector``
    (``k`` numbers per record, the same ``k`` for every record, column ``(N, k)``)."""

    name: str
    kind: Kind
    dtype: np.dtype[Any] = _F32
    doc: str = ""


@dataclass(frozen=True)
class Variant:
    """One set of outputs an algorithm answers with (a predictor type, verbose or not)."""

    name: str
    outputs: tuple[Output, ...]
    verbose: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """The output names, in the schema's order."""
        return tuple(o.name for o in self.outputs)

    def output(self, key: str) -> Output:
        """The `Output` named `key` (KeyError when the variant has none)."""
        for o in self.outputs:
            if o.name == key:
                return o
        raise KeyError(key)


@dataclass(frozen=True)
class AlgorithmSchema:
    """The response format of one built-in algorithm.

    Attributes
    ----------
    name : str
        Canonical name (``"kmeans"``, ``"linear-learner"``, ...).
    title : str
        The name AWS uses in prose.
    variants : tuple of Variant
        The first one is the default (used for an empty response).
    envelope : str
        Top-level key of ``application/json`` responses (docs/algorithms.md, "At a glance").
    accept : tuple of str
        The media types the algorithm writes (docs/algorithms.md, "At a glance"), in that
        order.
    verbose : bool
        Whether the algorithm takes the ``verbose`` Accept parameter (k-NN, IP Insights).
    csv_keys : tuple of str
        Column order of ``text/csv`` responses (k-means only).
    compact : frozenset of str
        Media types the algorithm writes without spaces after ``,`` and ``:``.
    aliases : tuple of str
        Other spellings `get` accepts (case, ``-``, ``_`` and spaces never matter).
    """

    name: str
    title: str
    variants: tuple[Variant, ...]
    envelope: str = "predictions"
    accept: tuple[str, ...] = (JSON, JSONLINES, RECORDIO)
    verbose: bool = False
    csv_keys: tuple[str, ...] = ()
    compact: frozenset[str] = field(default_factory=frozenset)
    aliases: tuple[str, ...] = ()

    def variant(self, name: str) -> Variant:
        """The variant called `name` (ValueError listing the variants otherwise)."""
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants)
        raise ValueError(f"{self.title} has no variant {name!r}; its variants: {known}")

    @property
    def keys(self) -> tuple[str, ...]:
        """Every output name of every variant, first-seen order."""
        return tuple(dict.fromkeys(k for v in self.variants for k in v.keys))


def _s(name: str, doc: str = "") -> Output:
    return Output(name, "scalar", _F32, doc)


def _v(name: str, doc: str = "") -> Output:
    return Output(name, "vector", _F32, doc)


_SCHEMA_LIST = (
    AlgorithmSchema(
        "kmeans",
        "k-means",
        (
            Variant(
                "default",
                (
                    _s("closest_cluster", "index of the nearest centroid, written as a float"),
                    _s("distance_to_cluster", "distance to that centroid"),
                ),
            ),
        ),
        accept=(JSON, JSONLINES, RECORDIO, CSV),
        csv_keys=("closest_cluster", "distance_to_cluster"),
        aliases=("k-means", "k_means"),
    ),
    AlgorithmSchema(
        "pca",
        "PCA",
        (Variant("default", (_v("projection", "num_components values"),)),),
        envelope="projections",
        aliases=("principal-component-analysis",),
    ),
    AlgorithmSchema(
        "linear-learner",
        "Linear Learner",
        (
            Variant(
                "binary_classifier",
                (_s("score", "probability of class 1"), _s("predicted_label", "0.0 or 1.0")),
            ),
            Variant(
                "multiclass_classifier",
                (_v("score", "num_classes probabilities"), _s("predicted_label", "class index")),
            ),
            Variant("regressor", (_s("score", "the prediction"),)),
        ),
        aliases=("linear_learner", "linearlearner", "ll"),
    ),
    AlgorithmSchema(
        "factorization-machines",
        "Factorization Machines",
        (
            Variant(
                "binary_classifier",
                (_s("score", "probability of class 1"), _s("predicted_label", "0.0 or 1.0")),
            ),
            Variant("regressor", (_s("score", "the prediction"),)),
        ),
        aliases=("factorization_machines", "fm"),
    ),
    AlgorithmSchema(
        "ntm",
        "NTM",
        (Variant("default", (_v("topic_weights", "num_topics values"),)),),
        aliases=("neural-topic-model",),
    ),
    AlgorithmSchema(
        "lda",
        "LDA",
        (Variant("default", (_v("topic_mixture", "num_topics values"),)),),
        accept=(JSON, RECORDIO),
        aliases=("latent-dirichlet-allocation",),
    ),
    AlgorithmSchema(
        "knn",
        "k-NN",
        (
            Variant("default", (_s("predicted_label", "class or regression value"),)),
            Variant(
                "verbose",
                (
                    _s("predicted_label", "class or regression value"),
                    _v("distances", "k distances, ascending"),
                    _v("labels", "the k neighbours' labels, aligned with distances"),
                ),
                verbose=True,
            ),
        ),
        verbose=True,
        aliases=("k-nn", "k_nn", "k-nearest-neighbors"),
    ),
    AlgorithmSchema(
        "randomcutforest",
        "Random Cut Forest",
        (Variant("default", (_s("score", "anomaly score"),)),),
        envelope="scores",
        aliases=("random-cut-forest", "random_cut_forest", "rcf"),
    ),
    AlgorithmSchema(
        "ipinsights",
        "IP Insights",
        (
            Variant("default", (_s("dot_product", "unbounded compatibility score"),)),
            Variant(
                "verbose",
                (
                    _s("dot_product", "unbounded compatibility score"),
                    _v("entity_embedding", "vector_dim values"),
                    _v("ip_embedding", "vector_dim values"),
                ),
                verbose=True,
            ),
        ),
        accept=(JSON, JSONLINES),
        verbose=True,
        aliases=("ip-insights", "ip_insights"),
    ),
    AlgorithmSchema(
        "object2vec",
        "Object2Vec",
        (
            Variant("classification", (_v("scores", "num_classes probabilities (1 value: regression)"),)),
            Variant("embedding", (_v("embeddings", "encoder output"),)),
        ),
        accept=(JSON, JSONLINES),
        compact=frozenset({JSONLINES}),
        aliases=("o2v",),
    ),
)

#: The built-in algorithms' schemas by canonical name (read-only).
SCHEMAS: Mapping[str, AlgorithmSchema] = MappingProxyType({s.name: s for s in _SCHEMA_LIST})


def _norm(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


_LOOKUP = {_norm(a): s for s in _SCHEMA_LIST for a in (s.name, *s.aliases)}


def get(name: str | AlgorithmSchema) -> AlgorithmSchema:
    """The schema of an algorithm by name, case-insensitive, ``-``/``_``/spaces ignored.

    >>> get("K-Means").name, get("rcf").envelope, get("linear_learner").title
    ('kmeans', 'scores', 'Linear Learner')
    """
    if isinstance(name, AlgorithmSchema):
        return name
    if not isinstance(name, str):
        raise TypeError(f"algorithm must be a str, not {type(name).__name__}")
    try:
        return _LOOKUP[_norm(name)]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(SCHEMAS)}") from None


# ======================================================================================
# Media types
# ======================================================================================


def _enveloped_records(raw: bytes) -> list[Any]:
    """The records of a JSON body: the list under its (first) top-level key."""
    doc = orjson.loads(raw)
    items: list[Any] = next(iter(doc.values())) if isinstance(doc, dict) and doc else []
    return items


def _line_records(raw: bytes) -> list[Any]:
    """The records of a JSON Lines body: one per non-blank line."""
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


@dataclass(frozen=True)
class _Wire:
    """What one media type adds to a schema beyond what its codec does.

    `write` and `read` name the options of the registry's codec (its dataclass fields) that
    `encode_response` and `decode_response` set from the schema and the caller: the JSON
    ``envelope``, the CSV ``keys`` and ``header``, ``dtype``, ``allow_nan``, ``copy``.
    """

    title: str
    write: tuple[str, ...]
    read: tuple[str, ...]
    #: Float32Tensors in a binary body: outputs are written as float32 (a one-value vector
    #: without shape), read with their own dtype (a scalar may stand for a one-value
    #: vector), and a Record's features map must be empty.
    tensors: bool = False
    #: JSON text: written with Python ``json``'s separators unless the schema is compact.
    spaced: bool = False
    #: JSON text: the records of a body as objects (to find where numbers and lists mix).
    records: Callable[[bytes], list[Any]] | None = None
    #: The body is ``{"<envelope>": [...]}``: checked before and after the codec reads it.
    envelope: bool = False
    #: One dtype for the whole table instead of one per output.
    one_dtype: bool = False
    #: The body of a response without records (the codec needs the outputs to write one).
    empty: bytes | None = None


#: The media types the built-in algorithms write, by content type.
_WIRES: Mapping[str, _Wire] = MappingProxyType(
    {
        JSON: _Wire(
            "JSON",
            write=("envelope", "allow_nan"),
            read=("dtype", "allow_nan"),
            spaced=True,
            records=_enveloped_records,
            envelope=True,
        ),
        JSONLINES: _Wire(
            "JSON Lines",
            write=("allow_nan",),
            read=("dtype", "allow_nan"),
            spaced=True,
            records=_line_records,
        ),
        CSV: _Wire("CSV", write=("keys", "header"), read=("keys", "dtype"), one_dtype=True, empty=b""),
        RECORDIO: _Wire("RecordIO-protobuf", write=(), read=("copy",), tensors=True),
    }
)


@functools.lru_cache(maxsize=256)
def _split_verbose(value: str) -> tuple[str, str | None, str]:
    """(essence, the ``verbose`` parameter or None, the media type without it: what the
    codec reads) of a media type; cached, as a server sees the same few."""
    media = MediaType.parse(value)
    params = dict(media.params)
    raw = params.pop("verbose", None)
    return media.essence, raw, value if raw is None else str(MediaType(media.type, media.subtype, params))


def _media(value: str, schema: AlgorithmSchema, *, accept: bool) -> tuple[str, bool | None, str]:
    """(content type, verbose flag or None, the media type without ``verbose``, for the
    codec) of an Accept / Content-Type value."""
    refuse = NotAcceptableError if accept else UnsupportedMediaTypeError
    try:
        if not isinstance(value, str):
            MediaType.parse(value)  # refuses it
        written, raw, media = _split_verbose(value)
    except UnsupportedMediaTypeError as e:
        raise refuse(value, schema.accept, e.reason) from None
    essence = ALIASES.get(written, written)
    if essence not in _WIRES:
        essence = written  # refused below, as it was written
    if essence not in schema.accept:
        raise refuse(value, schema.accept, f"{schema.title} does not write {essence}")
    verbose: bool | None = None
    if raw is not None and schema.verbose:
        flag = raw.strip().lower()
        if flag not in ("true", "false"):
            raise refuse(value, schema.accept, f"verbose must be true or false, got {raw!r}")
        verbose = flag == "true"
    return essence, verbose, media


@functools.lru_cache(maxsize=256, typed=True)
def _cached_codec(media: str, **options: Any) -> Codec:
    return get_codec(media, **options)


def _codec(media: str, essence: str, options: dict[str, Any]) -> Codec:
    """``get_codec(media, **options)``. A configured codec is immutable, so the same media
    type and options reuse one (while the registry keeps its class for `essence`)."""
    try:
        codec = _cached_codec(media, **options)
    except TypeError:  # an option that cannot be a key (a dtype per output)
        return get_codec(media, **options)
    if type(codec) is not CODECS.get(essence):  # a codec registered since
        _cached_codec.cache_clear()
        return get_codec(media, **options)
    return codec


def _csv_keys(schema: AlgorithmSchema, variants: tuple[Variant, ...]) -> tuple[str, ...]:
    """The CSV columns of `variants`' outputs, in the schema's order."""
    return tuple(k for k in schema.csv_keys if any(k in v.keys for v in variants))


def _candidates(
    schema: AlgorithmSchema, verbose: bool | None, variant: str | None, *, writing: bool
) -> tuple[Variant, ...]:
    """The variants allowed: `variant` alone when given; when writing, the verbose ones
    exactly when the media type says ``verbose=true``; when reading, any unless it says."""
    if variant is not None:
        chosen = schema.variant(variant)
        if verbose is not None and chosen.verbose != verbose:
            raise ValueError(
                f"variant {variant!r} of {schema.title} is "
                f"{'' if chosen.verbose else 'not '}verbose, but the media type says verbose={verbose}"
            )
        return (chosen,)
    if schema.verbose and (writing or verbose is not None):
        want = bool(verbose)
        return tuple(v for v in schema.variants if v.verbose == want)
    return schema.variants


# ======================================================================================
# Matching columns against a variant
# ======================================================================================


def _kind_of(col: Any) -> str:
    """``scalar``, ``vector``, or a description of what the column is instead."""
    kind = column_kind(col)
    if kind == "dense":
        if col.dtype.kind not in "fiu":
            return f"a column of dtype {col.dtype}"
        if col.ndim == 1:
            return "scalar"
        if col.ndim == 2:
            return "vector"
        return f"a column of record shape {tuple(col.shape[1:])}"
    return {"ragged": "vectors of different lengths", "sparse": "a sparse column", "strings": "strings"}.get(
        kind, kind
    )


def _problems(columns: Mapping[str, Any], var: Variant, loose_vectors: bool) -> list[tuple[str, str]]:
    """(key, what is wrong) for each way `columns` differ from `var`. With
    `loose_vectors`, a scalar column may stand for a vector of one value (RecordIO)."""
    out: list[tuple[str, str]] = []
    for o in var.outputs:
        if o.name not in columns:
            out.append((o.name, "missing"))
            continue
        got = _kind_of(columns[o.name])
        if got == o.kind or (loose_vectors and o.kind == "vector" and got == "scalar"):
            continue
        want = "one number per record" if o.kind == "scalar" else "a list of numbers per record"
        out.append((o.name, f"must be {want} ({o.kind}), got {got}"))
    for key in columns:
        if key not in var.keys:
            out.append((key, "unexpected"))
    return out


def _match(
    columns: Mapping[str, Any], cands: tuple[Variant, ...], loose: bool
) -> Variant | list[tuple[str, str]]:
    """The first variant `columns` fit (exact kinds first), or the problems with the
    closest one."""
    for lax in (False, True) if loose else (False,):
        for var in cands:
            if not _problems(columns, var, lax):
                return var
    best = min(cands, key=lambda v: (len(_problems(columns, v, loose)), -len(set(v.keys) & set(columns))))
    return _problems(columns, best, loose)


def _describe(schema: AlgorithmSchema, cands: tuple[Variant, ...]) -> str:
    if len(cands) == 1:
        return f"{schema.title} ({cands[0].name}) writes {', '.join(cands[0].keys)}"
    alts = "; ".join(f"{v.name}: {', '.join(v.keys)}" for v in cands)
    return f"{schema.title} writes one of: {alts}"


# ======================================================================================
# Encoding
# ======================================================================================


def _to_float64(col: Any) -> Any:
    return col if col.dtype == _F64 else col.astype(_F64)


def _to_float32(key: str, col: Any, ct: str) -> Any:
    """`col` as float32, or EncodeError naming the first value float32 cannot hold."""
    if col.dtype == _F32:
        return col
    flat = col.reshape(-1)
    if col.dtype.kind == "f":
        with np.errstate(over="ignore"):
            out = flat.astype(_F32)
        bad = ~((out.astype(_F64) == flat) | (np.isnan(flat) & np.isnan(out)))
    else:
        out = flat.astype(_F32)
        bad = np.abs(flat.astype(np.int64)) > _F32_INT
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        width = max(1, int(np.prod(col.shape[1:])))
        raise EncodeError(
            ct,
            f"value {flat[i].item()!r} (record {i // width}) is not a float32; the algorithm "
            "writes Float32Tensors: convert with .astype(np.float32) if rounding is intended",
            column=f"label[{key!r}]",
        )
    return out.reshape(col.shape)


def _spaced(body: bytes) -> bytes:
    """Python ``json``'s separators (``", "``, ``": "``) in a compact body whose only
    strings are output names (which hold neither character)."""
    return body.replace(b",", b", ").replace(b":", b": ")


def encode_response(
    data: Any,
    accept: str,
    algorithm: str | AlgorithmSchema,
    *,
    variant: str | None = None,
    allow_nan: bool = False,
    compact: bool | None = None,
) -> bytes:
    """Write a response exactly as `algorithm` writes it for `accept`.

    Parameters
    ----------
    data : RecordBatch or list of dict
        Outputs in ``batch.label`` (one column per output key), or per-record dicts
        (``[{"closest_cluster": 5, "distance_to_cluster": 36.5}]``).
    accept : str
        A media type the algorithm writes (see ``get(algorithm).accept``); k-NN and IP
        Insights read ``verbose=true`` from it and then write their verbose outputs.
    algorithm : str or AlgorithmSchema
        A name `get` knows.
    variant : str, optional
        Require this variant (``"multiclass_classifier"``, ...); by default the batch's
        keys and kinds pick it.
    allow_nan : bool
        Write NaN / infinities as ``NaN`` / ``Infinity`` in JSON and JSON Lines.
    compact : bool, optional
        Override the algorithm's spacing in JSON and JSON Lines (None: as it writes).

    Raises
    ------
    NotAcceptableError
        `accept` is not a type the algorithm writes (``supported`` lists those it does).
    EncodeError
        A missing, extra or wrongly shaped output (``column`` names it), or a value the
        format cannot hold.

    >>> encode_response([{"closest_cluster": 7, "distance_to_cluster": 7.2033820152282715}],
    ...                 "application/json", "kmeans")
    b'{"predictions": [{"closest_cluster": 7.0, "distance_to_cluster": 7.2033820152282715}]}'
    """
    from .arrays import to_batch
    from .formats._rows import rows_batch

    schema = get(algorithm)
    essence, verbose, media = _media(accept, schema, accept=True)
    wire = _WIRES[essence]
    cands = _candidates(schema, verbose, variant, writing=True)
    # output dicts of one kind of value per key: gathered in one pass (the same batch)
    fast = rows_batch(data) if type(data) is list else None
    batch = fast if fast is not None else to_batch(data, response=True)
    if batch.features:
        key = next(iter(batch.features))
        raise EncodeError(
            essence,
            f"{schema.title} responses hold their outputs in label; the batch has features",
            column=f"features[{key!r}]",
        )
    found = _match(batch.label, cands, loose=False)
    if isinstance(found, list) and len(batch) == 0:
        found = cands[0]  # no record to write: every variant writes the same empty body
    if isinstance(found, list):
        key, what = found[0]
        reason = {"missing": "missing output", "unexpected": "unexpected output"}.get(what, what)
        raise EncodeError(
            essence, f"{reason}; {_describe(schema, cands)}", column=f"label[{key!r}]", status_hint=500
        )
    var = found
    label: dict[str, Any] = {}
    for key, col in batch.label.items():
        if wire.tensors:
            col = _to_float32(key, col, essence)
            if col.ndim == 2 and col.shape[1] == 1:
                col = col.reshape(-1)  # a one-value tensor without shape, as the algorithm writes it
        else:
            col = _to_float64(col)
        label[key] = col
    out = RecordBatch(label=label, n=len(batch))
    settings: dict[str, Callable[[], Any]] = {
        "envelope": lambda: schema.envelope,
        "keys": lambda: _csv_keys(schema, (var,)),
        "header": lambda: False,  # the algorithms write no header row, whatever the Accept says
        "allow_nan": lambda: allow_nan,
    }
    codec = _codec(media, essence, {k: settings[k]() for k in wire.write})  # validates the parameters
    if wire.empty is not None and len(out) == 0:
        return wire.empty
    body = codec.encode_response(out)
    if wire.spaced and ((essence not in schema.compact) if compact is None else not compact):
        return _spaced(body)
    return body


# ======================================================================================
# Decoding
# ======================================================================================

_ENVELOPE_RE = re.compile(rb'(?:\xef\xbb\xbf)?[ \t\r\n]*\{[ \t\r\n]*"([^"\\]*)"[ \t\r\n]*:')


def _first_bad_record(col: Any) -> int:
    """The first record whose vector length differs from record 0's (0 when unknown)."""
    if isinstance(col, Ragged):
        if col.valid is not None and not col.valid.all():
            return int(np.flatnonzero(~col.valid)[0])
        lengths = col.lengths
        if lengths.size:
            diff = np.flatnonzero(lengths != lengths[0])
            if diff.size:
                return int(diff[0])
    return 0


def _equal_lengths(col: Any) -> bool:
    return isinstance(col, Ragged) and col.lengths.size > 0 and bool((col.lengths == col.lengths[0]).all())


def _first_mixed_record(body: Any, records: Callable[[bytes], list[Any]], key: str) -> int:
    """The first record whose `key` is a list where record 0's is a number, or the reverse
    (0 when the text cannot tell)."""
    try:
        raw = bytes(body) if not isinstance(body, str) else body.encode("utf-8")
        kinds = [isinstance(r.get(key), list) if isinstance(r, dict) else None for r in records(raw)]
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0
    return next((i for i, k in enumerate(kinds) if k != kinds[0]), 0)


def _missing_record(col: Any) -> int | None:
    if isinstance(col, Ragged) and col.valid is not None and not col.valid.all():
        return int(np.flatnonzero(~col.valid)[0])
    if isinstance(col, np.ndarray) and col.dtype == object:
        nones = [i for i, v in enumerate(col.tolist()) if v is None]
        if nones:
            return nones[0]
    return None


def _schema_dtypes(schema: AlgorithmSchema) -> dict[str, np.dtype[Any]]:
    return {o.name: o.dtype for v in schema.variants for o in v.outputs}


def _read_dtype(schema: AlgorithmSchema, wire: _Wire) -> Any:
    """The codec's ``dtype`` for ``dtype="schema"``: one per output, or the one of the table."""
    dtypes = _schema_dtypes(schema)
    return np.result_type(*dtypes.values()) if wire.one_dtype else dtypes


def _check_envelope(schema: AlgorithmSchema, codec: Codec, buf: bytes | bytearray, ct: str) -> None:
    """Before decoding: the body starts with the schema's envelope key."""
    m = _ENVELOPE_RE.match(buf)
    if m is None or m.group(1) != schema.envelope.encode():
        seen = "no JSON object" if m is None else f"top-level key {m.group(1).decode('utf-8', 'replace')!r}"
        # a body that is not JSON at all gets the JSON decoder's own error (with its position)
        codec.with_options(dtype=None).decode_response(buf)
        raise DecodeError(ct, f'{schema.title} writes {{"{schema.envelope}": [...]}}; found {seen}', offset=0)


def _check_envelope_items(schema: AlgorithmSchema, batch: RecordBatch, ct: str) -> None:
    """After decoding: the envelope held one object per record (a decoder reads a list of
    numbers under the envelope as one record of that key)."""
    if (
        len(batch) == 1
        and _missing_record(batch.label.get(schema.envelope)) is None
        and (schema.envelope in batch.label)
    ):
        raise DecodeError(
            ct,
            f'{schema.title} writes {{"{schema.envelope}": [...]}} with one object per record '
            "and no other top-level key",
            offset=0,
        )


def decode_response(
    body: bytes | bytearray | memoryview | str,
    content_type: str,
    algorithm: str | AlgorithmSchema,
    *,
    variant: str | None = None,
    dtype: Any = None,
    allow_nan: bool = False,
    copy: bool = False,
) -> RecordBatch:
    """Read a response of `algorithm`: its envelope, its keys, its kinds; outputs in
    ``batch.label`` (scalars ``(N,)``, vectors ``(N, k)``), in the order of the body.

    Parameters
    ----------
    content_type : str
        A media type the algorithm writes; ``verbose=true``/``false`` (k-NN, IP Insights)
        restricts the accepted variants, otherwise any variant is read.
    variant : str, optional
        Accept only this variant (also the one an empty body decodes as; by default
        the schema's first).
    dtype : optional
        For text formats, what the JSON and CSV decoders take (default float64);
        ``"schema"``: the schema's dtypes (float32) for every format.
    allow_nan : bool
        Accept ``NaN`` / ``Infinity`` in JSON and JSON Lines.
    copy : bool
        RecordIO-protobuf: owned arrays instead of views into `body`.

    Raises
    ------
    DecodeError
        The body is not what the algorithm writes (``record_index`` says where).
    UnsupportedMediaTypeError
        The algorithm does not write `content_type`.

    >>> b = decode_response(b'{"projections": [{"projection": [1.0, 2.0]}]}', "application/json", "pca")
    >>> b.label["projection"].tolist()
    [[1.0, 2.0]]
    """
    schema = get(algorithm)
    essence, verbose, media = _media(content_type, schema, accept=False)
    wire = _WIRES[essence]
    cands = _candidates(schema, verbose, variant, writing=False)
    schema_dtype = isinstance(dtype, str) and dtype == "schema"
    if dtype is not None and not schema_dtype and "dtype" not in wire.read:
        raise ValueError(f"dtype applies to text formats; {wire.title} takes None or 'schema'")
    settings: dict[str, Callable[[], Any]] = {
        "dtype": lambda: _read_dtype(schema, wire) if schema_dtype else dtype,
        "allow_nan": lambda: allow_nan,
        "keys": lambda: _csv_keys(schema, cands),
        "copy": lambda: copy,
    }
    enveloped = as_bytes(body, text=True) if wire.envelope else None
    codec = _codec(media, essence, {k: settings[k]() for k in wire.read})  # validates the parameters
    if wire.tensors and isinstance(body, str):
        raise DecodeError(essence, f"expected bytes, got str ({wire.title} is binary)")
    if enveloped is None:
        batch = codec.decode_response(body)
    else:
        _check_envelope(schema, codec, enveloped, essence)
        batch = codec.decode_response(enveloped)
        _check_envelope_items(schema, batch, essence)
    if wire.tensors and batch.features:
        raise DecodeError(
            essence,
            f"{schema.title} responses have an empty features map; found "
            f"features[{next(iter(batch.features))!r}]",
            record_index=_first_present(batch.features),
        )
    n = len(batch)
    if n == 0 and not batch.label:
        var = cands[0]
        empty = {
            o.name: np.zeros(
                (0,) if o.kind == "scalar" else (0, 0),
                o.dtype if schema_dtype or wire.tensors else _F64,
            )
            for o in var.outputs
        }
        return RecordBatch(label=empty, n=0)
    found = _match(batch.label, cands, loose=wire.tensors)
    if isinstance(found, list):
        key, what = found[0]
        col = batch.label.get(key)
        idx: int
        if what == "missing":
            reason = f"no {key!r}"
            idx = 0
        elif what == "unexpected":
            reason = f"unexpected key {key!r}"
            idx = _first_present({key: col})
        else:
            missing = _missing_record(col)
            reason = f"{key!r} is missing" if missing is not None else f"{key!r} {what}"
            idx = missing if missing is not None else _first_bad_record(col)
            if missing is None and wire.records is not None and _equal_lengths(col):
                # Text decoders read a number as a one-element row: the records mix numbers
                # and lists; find the first record that differs from record 0 in the text.
                reason = f"{key!r} mixes numbers and lists across records"
                idx = _first_mixed_record(body, wire.records, key)
        offset = None
        if enveloped is not None or essence == JSONLINES:
            text = enveloped if enveloped is not None else as_bytes(body, text=True)
            offset = _jlayout.record_offset(text, idx, enveloped is None)
            if offset is not None and reason.startswith("unexpected key"):
                # the key itself
                nl = text.find(b"\n", offset) if enveloped is None else -1
                end = len(text) if nl < 0 else nl
                offset = _jlayout.path_offset(text, offset, end, f"$: {reason}") or offset
        raise DecodeError(essence, f"{reason}; {_describe(schema, cands)}", offset=offset, record_index=idx)
    var = found
    label: dict[str, Any] = {}
    for key, col in batch.label.items():
        out = var.output(key)
        if out.kind == "vector" and col.ndim == 1:
            col = col.reshape(-1, 1)
        if schema_dtype and col.dtype != out.dtype:
            col = col.astype(out.dtype)
        label[key] = col
    return RecordBatch(label=label, uid=batch.uid, metadata=batch.metadata, n=n)


def _first_present(columns: Mapping[str, Any]) -> int:
    """The first record that has a value in one of `columns` (0 when unknown)."""
    for col in columns.values():
        if isinstance(col, Ragged) and col.valid is not None and col.valid.any():
            return int(np.flatnonzero(col.valid)[0])
        if isinstance(col, np.ndarray) and col.dtype == object:
            for i, v in enumerate(col.tolist()):
                if v is not None:
                    return i
    return 0
