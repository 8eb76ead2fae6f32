"""Sharded SageMaker datasets on Dask: write and read RecordIO-protobuf, CSV and JSON Lines
shards with Dask's own collections and scheduler (optional extra ``sm_payloads[dask]``).

Rule 1 (shards): a write makes one shard per partition of the collection, named
``part-00000.rec`` (``.csv``, ``.jsonl``) in partition order; with `max_shard_bytes` every
partition becomes one or more shards ``part-PPPPP-SSSSS.rec`` cut at record boundaries.
Either way the lexical order of the names is the order of the records. Shards are written
by the workers (one task per partition) through fsspec: local paths, ``memory://``, and
``s3://`` with s3fs installed. A directory that already holds ``part-*`` files is refused
unless ``overwrite=True`` (which removes them first).
Rule 2 (atomic shards): no shard is ever visible under its final name half-written.
Local files are written to a hidden temporary name in the same directory, flushed to disk
(``fsync``) and renamed (``os.replace``, atomic on POSIX); a failure removes the temporary
file. ``memory://`` stores the whole shard with one assignment (fsspec's ``pipe_file``). On
``s3://`` (and ``gs://``) a shard is one ``pipe_file``: a PUT or a multipart upload, and S3
makes an object visible only when its upload completes (a failed multipart upload leaves
no object; its parts wait for the bucket's lifecycle rule to abort them). Any other
filesystem gets a temporary name in the same directory and ``fs.mv``: atomic exactly when
that backend's move is.
Rule 3 (reading): partitions follow shards (one partition per file; CSV and JSON Lines
files can also be cut into byte ranges at line ends with `blocksize`). Row counts are not
read ahead: arrays have unknown row chunks (``nan``; ``X.compute_chunk_sizes()`` finds
them), the width and dtype come from the first record. A shard that cannot be decoded
raises `ShardDecodeError`: a `DecodeError` whose message names the shard and whose
`offset` counts bytes from the start of that shard file.
Rule 4 (ShardedByS3Key): `sharded_by_s3_key` models SageMaker's distribution of a channel's
objects over the training instances (see its docstring for what AWS specifies and what it
does not).
Rule 5 (dataframes): a dataframe partition is written through Arrow and `arrow.from_table`,
as the command line reads a Parquet file: its columns as a ``pyarrow.Table`` without copies
where Arrow holds them as they are (numpy numbers as views, NaN kept bit for bit; nullable
and Arrow-backed columns as their Arrow data; object columns of lists converted), with
pandas' rule that a null float is NaN. The columns are checked on the dataframe's meta
before any task runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import arrow as _arrow
from .columns import column_kind
from .errors import DecodeError
from .formats import csv as _csv
from .formats import jsonlines as _jsonl
from .formats import recordio_protobuf as _rp
from .record import RecordBatch
from .recordio import MAGIC, MAX_RECORD_LENGTH, frame_table, whole_records_prefix

try:
    import dask.array as da
    import dask.bag as db
    import dask.dataframe as dd
    import fsspec  # type: ignore[import-untyped]
    import pandas as pd  # type: ignore[import-untyped]
    from dask.base import compute, get_scheduler
    from dask.delayed import delayed
except ImportError as e:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "sm_payloads.dask needs the optional dependencies: pip install 'sm_payloads[dask]'"
    ) from e

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "ShardDecodeError",
    "read_csv",
    "read_jsonlines",
    "read_recordio",
    "sharded_by_s3_key",
    "to_csv",
    "to_jsonlines",
    "to_recordio",
]

As = Literal["array", "dataframe", "bag"]

_EXT: dict[str, str] = {"recordio": ".rec", "csv": ".csv", "jsonlines": ".jsonl"}
#: fsspec protocols whose single ``pipe_file`` makes a file visible whole or not at all.
_ATOMIC_PUT = frozenset({"memory", "s3", "s3a", "gs", "gcs"})
_LOCAL = frozenset({"file", "local"})
#: Object stores: no directories to make (s3fs's makedirs would try to create a bucket).
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "az"})
_MAX_SPLITS = 100_000  # sub-shards per partition (five digits keep the lexical order)
_HEAD = 1 << 16


# ======================================================================================
# Errors
# ======================================================================================


class ShardDecodeError(DecodeError):
    """A shard could not be decoded.

    A `DecodeError` whose message starts with the shard's URL; `offset` is the byte offset
    from the start of the shard file (for a byte-range partition too), `line` and
    `record_index` count within the shard when they are known.

    Attributes
    ----------
    path : str
        The shard (its URL, or the plain path for local files).
    shard_reason : str
        The decoder's own reason, without the shard's name.
    """

    def __init__(
        self,
        content_type: str,
        reason: str,
        *,
        path: str,
        offset: int | None = None,
        record_index: int | None = None,
        line: int | None = None,
    ) -> None:
        self.path = path
        self.shard_reason = reason
        super().__init__(
            content_type, reason, offset=offset, record_index=record_index, line=line, context=path
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            _rebuild_shard_error,
            (self.content_type, self.shard_reason, self.path, self.offset, self.record_index, self.line),
        )


def _rebuild_shard_error(
    content_type: str,
    reason: str,
    path: str,
    offset: int | None,
    record_index: int | None,
    line: int | None,
) -> ShardDecodeError:
    return ShardDecodeError(
        content_type, reason, path=path, offset=offset, record_index=record_index, line=line
    )


# ======================================================================================
# Filesystems
# ======================================================================================


def _protocols(fs: AbstractFileSystem) -> frozenset[str]:
    p = fs.protocol
    return frozenset([p] if isinstance(p, str) else p)


def _is_local(fs: AbstractFileSystem) -> bool:
    return bool(_protocols(fs) & _LOCAL)


def _url_to_fs(url: str, storage_options: Mapping[str, Any] | None) -> tuple[AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    return fs, str(path)


def _normalize_url(url: str) -> str:
    """A local path without a protocol becomes absolute (workers may run elsewhere)."""
    if not isinstance(url, str):
        raise TypeError(f"expected a path or URL string, got {type(url).__name__}")
    if "://" not in url and not url.startswith("file:"):
        return os.path.abspath(os.path.expanduser(url))
    return url


def _join(base_url: str, name: str) -> str:
    return base_url.rstrip("/") + "/" + name


def _display(fs: AbstractFileSystem, path: str) -> str:
    if _is_local(fs):
        return path
    if "memory" in _protocols(fs):
        return "memory://" + path.lstrip("/")
    return str(fs.unstrip_protocol(path))


def _makedirs(fs: AbstractFileSystem, path: str) -> None:
    if path and not _protocols(fs) & _OBJECT_STORES:
        fs.makedirs(path, exist_ok=True)


def _write_atomic(fs: AbstractFileSystem, path: str, chunks: Iterable[bytes | memoryview]) -> None:
    """Write `chunks` to `path` so that `path` never holds a partial file (module Rule 2)."""
    if _is_local(fs):
        directory, name = os.path.split(path)
        os.makedirs(directory, exist_ok=True)  # a worker on another machine of a shared filesystem
        tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return
    data = b"".join(bytes(c) for c in chunks)
    if _protocols(fs) & _ATOMIC_PUT:
        fs.pipe_file(path, data)
        return
    directory, name = posixpath.split(path)
    tmp = posixpath.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(tmp)
        raise


# ======================================================================================
# Writing
# ======================================================================================


@dataclass(frozen=True)
class _WriteSpec:
    fmt: str
    base_url: str
    storage_options: Mapping[str, Any]
    kind: str  # "array", "dataframe" or "bag"
    width: int  # digits of the partition number
    max_shard_bytes: int | None
    options: Mapping[str, Any] = field(default_factory=dict)
    features: tuple[Any, ...] = ()  # dataframe feature columns
    label: Any = None  # dataframe label: None, a column name, or a tuple of names


def _batch_of(spec: _WriteSpec, part: Any, label: Any) -> RecordBatch:
    if spec.kind == "array":
        X = np.asarray(part)
        labels = {} if label is None else {"values": np.asarray(label)}
        return RecordBatch({"values": X}, labels, n=X.shape[0])
    if spec.kind == "dataframe":
        return _frame_batch(spec, part)
    items = list(part)
    for item in items:
        if not isinstance(item, RecordBatch):
            raise TypeError(f"a bag to write must hold RecordBatch items, not {type(item).__name__}")
    if not items:
        return RecordBatch(n=0)
    return items[0] if len(items) == 1 else RecordBatch.concat(items)


def _encode(spec: _WriteSpec, batch: RecordBatch) -> bytes:
    if spec.fmt == "recordio":
        return _rp.encode(batch, **spec.options)
    if spec.fmt == "csv":
        # Every shard ends with a newline, so that shards concatenated (as Pipe mode
        # streams a channel's objects) still have one record per line.
        return _csv.encode(batch, **spec.options) + b"\n" if len(batch) else b""
    return _jsonl.encode(batch, **spec.options)


def _record_ends(fmt: str, body: bytes) -> np.ndarray:
    """Byte offset just past each record of an encoded shard."""
    if fmt == "recordio":
        starts, _, _ = frame_table(memoryview(body), _rp.CONTENT_TYPE)
        frames = np.where(starts >= 0, starts - 8, -1 - starts)
        return np.append(frames[1:], len(body)).astype(np.int64)
    raw = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10) + 1
    if fmt == "csv":
        # A newline inside a quoted field has an odd number of quotes before it.
        quotes = np.flatnonzero(raw == 34)
        if quotes.size:
            ends = ends[np.searchsorted(quotes, ends - 1) % 2 == 0]
    return ends.astype(np.int64)


def _cuts(ends: np.ndarray, total: int, limit: int, partition: int) -> list[tuple[int, int]]:
    """Greedy cuts at record ends so that every piece is at most `limit` bytes."""
    if total == 0:
        return [(0, 0)]
    out: list[tuple[int, int]] = []
    start = 0
    while start < total:
        k = int(np.searchsorted(ends, start + limit, side="right")) - 1
        stop = int(ends[k]) if k >= 0 else start
        if stop <= start:
            nxt = int(ends[np.searchsorted(ends, start, side="right")])
            raise ValueError(
                f"partition {partition}: a record of {nxt - start} bytes (at byte {start} of the "
                f"partition's shard data) does not fit in max_shard_bytes={limit}"
            )
        out.append((start, stop))
        start = stop
    if len(out) > _MAX_SPLITS:
        raise ValueError(
            f"partition {partition} would make {len(out)} shards (more than {_MAX_SPLITS}); "
            "raise max_shard_bytes or repartition"
        )
    return out


def _write_partition(spec: _WriteSpec, index: int, part: Any, label: Any) -> list[str]:
    """Encode one partition and write its shard(s); returns their URLs (runs on a worker)."""
    body = _encode(spec, _batch_of(spec, part, label))
    ext = _EXT[spec.fmt]
    stem = f"part-{index:0{spec.width}d}"
    if spec.max_shard_bytes is None:
        named = [(f"{stem}{ext}", 0, len(body))]
    else:
        cuts = _cuts(_record_ends(spec.fmt, body), len(body), spec.max_shard_bytes, index)
        named = [(f"{stem}-{j:05d}{ext}", a, b) for j, (a, b) in enumerate(cuts)]
    view = memoryview(body)
    urls = []
    for name, a, b in named:
        url = _join(spec.base_url, name)
        fs, path = _url_to_fs(url, spec.storage_options)
        _write_atomic(fs, path, [view[a:b]])
        urls.append(url)
    return urls


def _array_tasks(spec: _WriteSpec, X: Any, label: Any) -> list[Any]:
    """One write task per row block, as one blockwise layer over the features, the labels
    and the block numbers: optimized once, as one collection, so that features and labels
    computed by the same task (``read_*(with_label=True)``) are computed once."""
    if X.ndim == 0:
        raise ValueError("a 0-d array has no records")
    if any(n > 1 for n in X.numblocks[1:]):
        X = X.rechunk({i: -1 for i in range(1, X.ndim)})
    args: list[Any] = [da.arange(X.numblocks[0], chunks=1), "i", X, "i" + "abcdefgh"[: X.ndim - 1]]
    if label is not None:
        if not isinstance(label, da.Array):
            raise TypeError(f"label for a dask array must be a dask array, not {type(label).__name__}")
        if label.ndim == 0:
            raise ValueError("label must have one entry (or one vector) per record")
        rows_known = not any(np.isnan(c) for c in X.chunks[0] + label.chunks[0])
        if rows_known:
            if label.shape[0] != X.shape[0]:
                raise ValueError(f"label has {label.shape[0]} rows but the features have {X.shape[0]}")
            if label.chunks[0] != X.chunks[0]:
                label = label.rechunk({0: X.chunks[0]})  # type: ignore[no-untyped-call]
        elif label.numblocks[0] != X.numblocks[0]:
            raise ValueError(
                f"label has {label.numblocks[0]} row chunks but the features have {X.numblocks[0]} "
                "(with unknown chunk sizes they must be chunked alike)"
            )
        if any(n > 1 for n in label.numblocks[1:]):
            label = label.rechunk({i: -1 for i in range(1, label.ndim)})
        args += [label, "i" + "pqrstuvw"[: label.ndim - 1]]
    out = da.blockwise(  # type: ignore[no-untyped-call]
        _write_block,
        "i",
        *args,
        dtype=object,
        concatenate=True,
        adjust_chunks={"i": 1},
        align_arrays=False,  # block i of each, whatever the (possibly unknown) sizes
        name=f"smp-write-{uuid.uuid4().hex}",  # never a result cached from an earlier write
        meta=np.empty(0, dtype=object),
        spec=spec,
    )
    return _to_delayed(out)


def _write_block(
    index: np.ndarray, part: np.ndarray, label: np.ndarray | None = None, *, spec: _WriteSpec
) -> np.ndarray:
    out = np.empty(1, dtype=object)
    out[0] = _write_partition(spec, int(index[0]), part, label)
    return out


def _label_columns(label: Any) -> list[Any]:
    if label is None:
        return []
    if isinstance(label, str) or not isinstance(label, Sequence):
        return [label]
    return list(label)


def _frame_spec(spec: _WriteSpec, df: Any, label: Any) -> _WriteSpec:
    """The spec with the dataframe's feature and label columns, checked on its meta (an
    empty partition with the columns' dtypes) by the rules every partition will meet."""
    columns = list(df.columns)
    label_cols = _label_columns(label)
    lab: Any = None  # None, the one label column (a (N,) label), or a tuple of them
    if label is not None:
        single = isinstance(label, str) or not isinstance(label, Sequence)
        lab = label_cols[0] if single else tuple(label_cols)
    missing = [c for c in label_cols if c not in columns]
    if missing:
        raise KeyError(f"label column(s) {missing} not in the dataframe's columns {columns}")
    if len({str(c) for c in columns}) != len(columns):
        raise ValueError(f"the dataframe's column names are not unique as text: {columns}")
    features = tuple(c for c in columns if c not in label_cols)
    if not features:
        raise ValueError("the dataframe has no feature columns")
    spec = replace(spec, features=features, label=lab)
    # object columns (lists, as pandas holds Parquet's list columns) have no Arrow type
    # until they hold values: the meta checks the others (text, types without a tensor)
    meta = df._meta
    typed = [c for c in columns if meta[c].dtype != object]
    checked = replace(
        spec,
        features=tuple(c for c in features if c in typed),
        label=None if lab is None else tuple(c for c in label_cols if c in typed),
    )
    _frame_batch(checked, meta, empty_ok=False)
    return spec


def _frame_table(part: Any, columns: Sequence[Any]) -> Any:
    """Columns of a pandas partition as a ``pyarrow.Table`` (names as text), without
    copies where Arrow can hold the data as it is: a numpy column of numbers is a view of
    its values (NaN stays NaN, payload included: not pandas' missing value here), a column
    of pandas' nullable or Arrow-backed dtypes is its own Arrow data (``pd.NA`` a null),
    and an object column (lists or arrays per row, as pandas holds Parquet's list columns)
    is converted by pyarrow."""
    pa = _arrow.pyarrow()
    arrays = {}
    for c in columns:
        s = part[c]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
            arrays[str(c)] = pa.array(s.to_numpy(), from_pandas=False)
        else:
            arrays[str(c)] = pa.array(s, from_pandas=True)
    return pa.table(arrays)


def _frame_batch(spec: _WriteSpec, part: Any, *, empty_ok: bool = True) -> RecordBatch:
    """A pandas partition as a batch, through Arrow and `from_arrow` (its rules: numbers
    become float32, float64 or int32 when no value changes, several columns are stacked
    into one (N, k) array of their common type, a list column is ragged, a fixed-size list
    (N, k), text is an `EncodeError` naming the column; a null float is NaN, pandas'
    missing value, and any other null an `EncodeError`)."""
    if empty_ok and len(part) == 0:
        return RecordBatch(n=0)  # every format's shard of no records is empty
    label_cols = _label_columns(spec.label)
    table = _frame_table(part, [*spec.features, *label_cols])
    label: Any = None
    if spec.label is not None:
        label = [str(c) for c in label_cols] if isinstance(spec.label, tuple) else str(spec.label)
    # nan=True: a null in a float column (pd.NA of a nullable or Arrow-backed column,
    # as Parquet's nulls read back) is NaN, as for any pandas data given to from_arrow
    return _arrow.from_table(table, label=label, features=[str(c) for c in spec.features], nan=True)


def _to_delayed(collection: Any) -> list[Any]:
    return list(collection.to_delayed())


def _existing_parts(fs: AbstractFileSystem, root: str) -> list[str]:
    try:
        if not fs.isdir(root):
            return []
        names = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    return sorted(str(p) for p in names if posixpath.basename(str(p).rstrip("/")).startswith("part-"))


def _write(
    fmt: str,
    collection: Any,
    urlpath: str,
    label: Any,
    max_shard_bytes: int | None,
    manifest: str | None,
    overwrite: bool,
    storage_options: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> list[str]:
    if max_shard_bytes is not None and (
        isinstance(max_shard_bytes, bool) or not isinstance(max_shard_bytes, int) or max_shard_bytes < 1
    ):
        raise ValueError(f"max_shard_bytes must be a positive int or None, not {max_shard_bytes!r}")
    so = dict(storage_options or {})
    base_url = _normalize_url(urlpath)
    if isinstance(collection, da.Array):
        kind, nparts = "array", (collection.numblocks[0] if collection.ndim else 1)
    elif isinstance(collection, dd.DataFrame):
        kind, nparts = "dataframe", collection.npartitions
    elif isinstance(collection, db.Bag):
        if label is not None:
            raise ValueError("a bag of RecordBatch carries its labels itself; label must be None")
        kind, nparts = "bag", collection.npartitions
    else:
        raise TypeError(
            "expected a dask array, a dask dataframe or a dask bag of RecordBatch, "
            f"not {type(collection).__name__}"
        )
    spec = _WriteSpec(
        fmt=fmt,
        base_url=base_url,
        storage_options=so,
        kind=kind,
        width=max(5, len(str(nparts - 1))),
        max_shard_bytes=max_shard_bytes,
        options=dict(options),
    )
    if kind == "array":
        tasks = _array_tasks(spec, collection, label)
    else:
        if kind == "dataframe":
            spec = _frame_spec(spec, collection, label)
        write = delayed(_write_partition, pure=False)
        tasks = [write(spec, i, p, None) for i, p in enumerate(_to_delayed(collection))]
    fs, root = _url_to_fs(base_url, so)
    stale = _existing_parts(fs, root)
    if stale:
        if not overwrite:
            raise FileExistsError(
                f"{base_url} already holds shards ({posixpath.basename(stale[0])}, ...); "
                "pass overwrite=True to replace them"
            )
        fs.rm(stale)
    _makedirs(fs, root)
    results = _compute_all(tasks)
    urls = [u for r in results for u in (r[0] if kind == "array" else r)]
    if manifest is not None:
        _write_manifest(base_url, urls, _normalize_url(manifest), so)
    return urls


def _compute_all(tasks: list[Any]) -> list[Any]:
    """Compute every task. On a distributed cluster wait for all of them before raising the
    first error (in partition order), so that no shard is still being written after a
    write returned or raised."""
    client = getattr(get_scheduler(), "__self__", None)  # type: ignore[no-untyped-call]
    if client is not None and type(client).__name__ == "Client" and hasattr(client, "compute"):
        from distributed import wait

        futures = client.compute(tasks)
        wait(futures)  # type: ignore[no-untyped-call]
        for fut in futures:
            if fut.status != "finished":
                fut.result()  # raises the task's error
        return list(client.gather(futures))
    return list(compute(*tasks))  # type: ignore[no-untyped-call]


def _write_manifest(base_url: str, urls: list[str], manifest: str, so: Mapping[str, Any]) -> None:
    prefix = base_url.rstrip("/") + "/"
    doc: list[Any] = [{"prefix": prefix}]
    doc += [u[len(prefix) :] for u in urls]
    fs, path = _url_to_fs(manifest, so)
    _makedirs(fs, fs._parent(path))
    _write_atomic(fs, path, [json.dumps(doc).encode("utf-8")])


_WRITE_DOC = """

    Parameters
    ----------
    collection : dask array, dask dataframe or dask bag of RecordBatch
        A dask array is the features (``features["values"]``, one record per row; other
        chunks along the columns are joined). A dataframe's columns are the features
        except those named by `label`; they must be numeric numpy dtypes. A bag holds
        `RecordBatch` items; each partition's items are concatenated.
    urlpath : str
        The directory (local path, ``memory://...``, ``s3://bucket/prefix``).
    label : dask array, column name(s) or None
        For an array: a dask array of labels chunked like the rows (it is rechunked to the
        features' row chunks when their sizes are known). For a dataframe: one column name
        (a ``(N,)`` label) or a list of names (``(N, k)``). None for a bag.
    max_shard_bytes : int, optional
        Cut each partition into shards of at most this many bytes, at record boundaries,
        named ``part-PPPPP-SSSSS``. A single record larger than this raises ValueError.
    manifest : str, optional
        Also write a SageMaker manifest file here (for ``S3DataType: ManifestFile``):
        ``[{"prefix": "<urlpath>/"}, "part-00000...", ...]``. Put it outside `urlpath` if
        the same prefix is also used as an ``S3Prefix`` channel.
    overwrite : bool
        Remove ``part-*`` files already in `urlpath` first (by default they are an error).
    storage_options : mapping, optional
        Passed to fsspec (credentials, endpoint, ...).

    Returns
    -------
    list of str
        The shard URLs in record order (also their lexical order).
"""


def to_recordio(
    collection: Any,
    urlpath: str,
    *,
    label: Any = None,
    max_shard_bytes: int | None = None,
    manifest: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    sdk_compatible: bool = False,
) -> list[str]:
    return _write(
        "recordio",
        collection,
        urlpath,
        label,
        max_shard_bytes,
        manifest,
        overwrite,
        storage_options,
        {"sdk_compatible": sdk_compatible},
    )


to_recordio.__doc__ = (
    "Write a collection as RecordIO-protobuf shards ``part-00000.rec``, ... (one per partition)."
    + _WRITE_DOC
    + """    sdk_compatible : bool
        Write exactly the SageMaker SDK's bytes (see `sm_payloads.formats.recordio_protobuf`).
"""
)


def to_csv(
    collection: Any,
    urlpath: str,
    *,
    label: Any = None,
    max_shard_bytes: int | None = None,
    manifest: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    label_size: int | None = None,
) -> list[str]:
    return _write(
        "csv",
        collection,
        urlpath,
        label,
        max_shard_bytes,
        manifest,
        overwrite,
        storage_options,
        {"label_size": label_size},
    )


to_csv.__doc__ = (
    "Write a collection as CSV shards ``part-00000.csv``, ...: per row the label fields, then "
    "the features (SageMaker's training layout; no header). Every shard ends with a newline."
    + _WRITE_DOC
    + """    label_size : int, optional
        Check that every record has exactly this many label fields.
"""
)


def to_jsonlines(
    collection: Any,
    urlpath: str,
    *,
    label: Any = None,
    max_shard_bytes: int | None = None,
    manifest: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    allow_nan: bool = False,
    layout: Literal["dense", "sparse", "protobuf"] | None = None,
) -> list[str]:
    return _write(
        "jsonlines",
        collection,
        urlpath,
        label,
        max_shard_bytes,
        manifest,
        overwrite,
        storage_options,
        {"allow_nan": allow_nan, "layout": layout},
    )


to_jsonlines.__doc__ = (
    "Write a collection as JSON Lines shards ``part-00000.jsonl``, ... (one instance per line)."
    + _WRITE_DOC
    + """    allow_nan, layout
        As in `sm_payloads.formats.jsonlines.encode`.
"""
)


# ======================================================================================
# Reading
# ======================================================================================


@dataclass(frozen=True)
class _Piece:
    """One partition: a whole file, or the lines that start in ``[start, stop)``."""

    fs: Any
    path: str
    start: int = 0
    stop: int | None = None  # None: the whole file
    size: int = 0
    version: str = ""  # see _version

    @property
    def display(self) -> str:
        return _display(self.fs, self.path)


@dataclass(frozen=True)
class _ReadSpec:
    fmt: str
    with_label: bool
    options: Mapping[str, Any] = field(default_factory=dict)


def _has_magic(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _hidden(path: str) -> bool:
    return posixpath.basename(path.rstrip("/")).startswith((".", "_"))


def _version(info: Mapping[str, Any]) -> str:
    """What changes when a file is rewritten (part of the tasks' keys, so that a rewritten
    shard is never answered from an earlier computation's memory)."""
    for key in ("mtime", "LastModified", "ETag", "etag", "last_modified", "created"):
        if info.get(key) is not None:
            return f"{key}={info[key]}"
    return ""


def _sources(
    urlpath: str | Sequence[str], so: Mapping[str, Any]
) -> list[tuple[AbstractFileSystem, str, int, str]]:
    """(fs, path, size, version) of every file: a file, a directory's visible files, a
    glob's files (both sorted by name), or a list of those in the given order."""
    if not isinstance(urlpath, str):
        out = []
        for u in urlpath:
            out += _sources(u, so)
        return out
    url = _normalize_url(urlpath)
    fs, path = _url_to_fs(url, so)
    if _has_magic(path):
        infos = list(fs.glob(path, detail=True).values())
    elif fs.isdir(path):
        infos = [i for i in fs.ls(path, detail=True) if not _hidden(str(i["name"]))]
    else:
        if not fs.exists(path):
            raise FileNotFoundError(url)
        infos = [fs.info(path)]
    files = [(str(i["name"]), int(i.get("size") or 0), _version(i)) for i in infos if i.get("type") == "file"]
    if not files:
        raise FileNotFoundError(f"no files match {url}")
    return [(fs, p, n, v) for p, n, v in sorted(files)]


def _pieces(sources: list[tuple[Any, str, int, str]], blocksize: int | None) -> list[_Piece]:
    if blocksize is not None and (
        isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 1
    ):
        raise ValueError(f"blocksize must be a positive int or None, not {blocksize!r}")
    out = []
    for fs, path, size, version in sources:
        if blocksize is None or size <= blocksize:
            out.append(_Piece(fs, path, size=size, version=version))
        else:
            out += [
                _Piece(fs, path, a, min(a + blocksize, size), size, version)
                for a in range(0, size, blocksize)
            ]
    return out


def _line_start(f: Any, pos: int) -> int:
    """The first offset >= `pos` where a line starts (just after a newline), or EOF."""
    if pos == 0:
        return 0
    at = pos - 1
    f.seek(at)
    while True:
        chunk = f.read(_HEAD)
        if not chunk:
            return at
        i = int(chunk.find(b"\n"))
        if i >= 0:
            return at + i + 1
        at += len(chunk)


def _read_piece(piece: _Piece) -> tuple[bytes, int]:
    """The piece's bytes and their offset in the file."""
    if piece.stop is None:
        return bytes(piece.fs.cat_file(piece.path)), 0
    with piece.fs.open(piece.path, "rb") as f:
        a = _line_start(f, piece.start)
        b = piece.size if piece.stop >= piece.size else _line_start(f, piece.stop)
        if b <= a:
            return b"", a
        f.seek(a)
        return bytes(f.read(b - a)), a


def _decode(spec: _ReadSpec, data: bytes | memoryview) -> RecordBatch:
    if spec.fmt == "recordio":
        return _rp.decode(data)
    if spec.fmt == "csv":
        return _csv.decode(data, **spec.options)
    return _jsonl.decode(data, **spec.options)


def _wrap(e: DecodeError, piece: _Piece, base: int) -> ShardDecodeError:
    first = base == 0
    return ShardDecodeError(
        e.content_type,
        e.reason,
        path=piece.display,
        offset=None if e.offset is None else base + e.offset,
        record_index=e.record_index if first else None,
        line=e.line if first else None,
    )


def _load(spec: _ReadSpec, piece: _Piece) -> RecordBatch:
    data, base = _read_piece(piece)
    try:
        batch = _decode(spec, data)
    except DecodeError as e:
        raise _wrap(e, piece, base) from None
    return batch


def _head(spec: _ReadSpec, piece: _Piece) -> RecordBatch | None:
    """The first record of a piece (None when it has none), decoding nothing after it."""
    n = _HEAD
    while True:
        with piece.fs.open(piece.path, "rb") as f:
            start = piece.start if spec.fmt == "recordio" else _line_start(f, piece.start)
            f.seek(start)
            data = bytes(f.read(n))
        eof = len(data) < n
        span: RecordBatch | tuple[int, int] | None
        if spec.fmt == "recordio":
            span = _first_frame(data, eof)
        else:
            limit = None if piece.stop is None else piece.stop - start
            span = _first_line(spec, data, eof, limit, piece, start)
        if span is None:  # more bytes needed
            n *= 4
            continue
        if isinstance(span, RecordBatch) or span[1] <= span[0]:
            return span if isinstance(span, RecordBatch) else None
        try:
            batch = _decode(spec, memoryview(data)[span[0] : span[1]])
        except DecodeError as e:
            raise _wrap(e, piece, start + span[0]) from None
        return batch[0:1] if len(batch) else None


def _first_frame(data: bytes, eof: bool) -> tuple[int, int] | None:
    """The bytes of the first RecordIO record (or of what the decoder should judge)."""
    if len(data) < 8:
        return 0, len(data)
    magic, lrec = struct.unpack_from("<II", data)
    if magic == MAGIC and lrec >> 29 == 0:
        length = lrec & MAX_RECORD_LENGTH
        need = 8 + length + (-length & 3)
        if need > len(data) and not eof:
            return None
        return 0, min(need, len(data))
    if eof:
        return 0, len(data)
    prefix = whole_records_prefix(memoryview(data))  # a multi-part record, or garbage
    return (0, prefix) if prefix else None


def _first_line(
    spec: _ReadSpec, data: bytes, eof: bool, limit: int | None, piece: _Piece, start: int
) -> RecordBatch | tuple[int, int] | None:
    """The first record of the lines in `data` (blank lines skipped), an empty span when
    the piece has none, or None when more bytes are needed."""
    pos = 0
    while limit is None or pos < limit:
        nl = data.find(b"\n", pos)
        if nl < 0 and not eof:
            return None
        end = len(data) if nl < 0 else nl + 1
        if end == pos:
            break
        try:
            batch = _decode(spec, memoryview(data)[pos:end])
        except DecodeError as e:
            raise _wrap(e, piece, start + pos) from None
        if len(batch):
            return batch[0:1]
        pos = end
    return 0, 0


@dataclass(frozen=True)
class _Meta:
    fshape: tuple[int, ...]
    fdtype: np.dtype[Any]
    lshape: tuple[int, ...] | None
    ldtype: np.dtype[Any] | None


def _dense(batch: RecordBatch, map_name: str, piece: _Piece) -> np.ndarray:
    cols = getattr(batch, map_name)
    if "values" not in cols:
        raise ValueError(f"{piece.display}: the records have no {map_name}['values']")
    col = cols["values"]
    if column_kind(col) != "dense" or not isinstance(col, np.ndarray) or col.dtype.kind not in "biuf":
        raise TypeError(
            f"{piece.display}: {map_name}['values'] is not a dense numeric column "
            f"({column_kind(col)}); read it with as_='bag'"
        )
    return col


def _meta(spec: _ReadSpec, pieces: list[_Piece]) -> _Meta:
    for piece in pieces:
        if piece.stop is None and piece.size == 0:
            continue
        head = _head(spec, piece)
        if head is None:
            continue
        X = _dense(head, "features", piece)
        y = _dense(head, "label", piece) if spec.with_label else None
        return _Meta(
            tuple(X.shape[1:]),
            X.dtype,
            None if y is None else tuple(y.shape[1:]),
            None if y is None else y.dtype,
        )
    lshape: tuple[int, ...] | None = () if spec.with_label else None
    ldtype = np.dtype(np.float64) if spec.with_label else None
    return _Meta((0,), np.dtype(np.float64), lshape, ldtype)


def _arrays(spec: _ReadSpec, meta: _Meta, piece: _Piece) -> tuple[np.ndarray, np.ndarray | None]:
    batch = _load(spec, piece)
    if len(batch) == 0:
        X = np.empty((0, *meta.fshape), meta.fdtype)
        y = None if meta.lshape is None else np.empty((0, *meta.lshape), meta.ldtype)
        return X, y
    X = _dense(batch, "features", piece)
    if X.shape[1:] != meta.fshape or X.dtype != meta.fdtype:
        raise ValueError(
            f"{piece.display}: features of shape {X.shape[1:]} and dtype {X.dtype}, but the "
            f"first shard has {meta.fshape} and {meta.fdtype}"
        )
    if meta.lshape is None:
        return X, None
    y = _dense(batch, "label", piece)
    if y.shape[1:] != meta.lshape or y.dtype != meta.ldtype:
        raise ValueError(
            f"{piece.display}: labels of shape {y.shape[1:]} and dtype {y.dtype}, but the "
            f"first shard has {meta.lshape} and {meta.ldtype}"
        )
    return X, y


def _features_of(pair: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
    return pair[0]


def _labels_of(pair: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
    y = pair[1]
    assert y is not None
    return y


def _names(meta: _Meta) -> tuple[list[str], list[str]]:
    k = int(np.prod(meta.fshape)) if meta.fshape else 1
    fnames = [f"f_{j}" for j in range(k)]
    if meta.lshape is None:
        return fnames, []
    m = int(np.prod(meta.lshape)) if meta.lshape else 1
    lnames = ["label"] if not meta.lshape else [f"label_{j}" for j in range(m)]
    return fnames, lnames


def _frame(spec: _ReadSpec, meta: _Meta, piece: _Piece) -> Any:
    X, y = _arrays(spec, meta, piece)
    fnames, lnames = _names(meta)
    cols: dict[str, Any] = {}
    if y is not None:
        y2 = y.reshape(len(y), -1)
        for j, name in enumerate(lnames):
            cols[name] = y2[:, j]
    X2 = X.reshape(len(X), -1)
    for j, name in enumerate(fnames):
        cols[name] = X2[:, j]
    return pd.DataFrame(cols)


def _bag_part(spec: _ReadSpec, piece: _Piece) -> list[RecordBatch]:
    return [_load(spec, piece)]


def _stack(blocks: list[Any], shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
    """One dask array of blocks with unknown row counts."""
    arrays = [da.from_delayed(b, shape=(np.nan, *shape), dtype=dtype) for b in blocks]  # type: ignore[no-untyped-call]
    return da.concatenate(arrays)  # type: ignore[no-untyped-call]


def _read(
    spec: _ReadSpec,
    urlpath: str | Sequence[str],
    as_: str,
    blocksize: int | None,
    storage_options: Mapping[str, Any] | None,
) -> Any:
    if as_ not in ("array", "dataframe", "bag"):
        raise ValueError(f"as_ must be 'array', 'dataframe' or 'bag', not {as_!r}")
    pieces = _pieces(_sources(urlpath, dict(storage_options or {})), blocksize)
    if as_ == "bag":
        load = delayed(_bag_part, pure=True)
        return db.from_delayed([load(spec, p) for p in pieces])  # type: ignore[no-untyped-call]
    meta = _meta(spec, pieces)
    if as_ == "dataframe":
        fnames, lnames = _names(meta)
        empty = {n: np.empty(0, meta.ldtype) for n in lnames}
        empty.update({n: np.empty(0, meta.fdtype) for n in fnames})
        frame = delayed(_frame, pure=True)
        return dd.from_delayed(
            [frame(spec, meta, p) for p in pieces], meta=pd.DataFrame(empty), verify_meta=False
        )
    load = delayed(_arrays, pure=True)
    pairs = [load(spec, meta, p) for p in pieces]
    feats = delayed(_features_of, pure=True)
    X = _stack([feats(p) for p in pairs], meta.fshape, meta.fdtype)
    if not spec.with_label:
        return X
    assert meta.lshape is not None and meta.ldtype is not None
    labs = delayed(_labels_of, pure=True)
    y = _stack([labs(p) for p in pairs], meta.lshape, meta.ldtype)
    return X, y


_READ_DOC = """

    One partition per file. A shard that cannot be decoded raises `ShardDecodeError` when
    its partition is computed (the first record is read at once, for the width and dtype).

    Parameters
    ----------
    urlpath_or_glob : str or list of str
        A shard file, a directory (its files, except hidden ones starting with ``.`` or
        ``_``, in name order), a glob (``.../part-*.rec``, in name order), or a list of
        those (in the given order).
    as_ : "array", "dataframe" or "bag"
        ``array``: the features ``X`` as a dask array ``(N, k)`` (or ``(X, y)`` with
        `with_label`), with unknown row chunks. ``dataframe``: columns ``label`` (or
        ``label_0``, ... for a label vector) when `with_label`, then ``f_0``, ``f_1``, ...;
        each partition has its own 0-based index. ``bag``: one `RecordBatch` per partition,
        any column kinds, with everything the shard holds (labels, uid, metadata,
        configuration), whatever `with_label` says.
    with_label : bool
        ``array`` and ``dataframe`` results include the labels (``label["values"]``).
    storage_options : mapping, optional
        Passed to fsspec.
"""


def read_recordio(
    urlpath_or_glob: str | Sequence[str],
    *,
    as_: As = "array",
    with_label: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    return _read(_ReadSpec("recordio", with_label), urlpath_or_glob, as_, None, storage_options)


read_recordio.__doc__ = "Read RecordIO-protobuf shards as a dask collection." + _READ_DOC


def read_csv(
    urlpath_or_glob: str | Sequence[str],
    *,
    as_: As = "array",
    with_label: bool = False,
    label_size: int | None = None,
    dtype: Any = None,
    blocksize: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    if label_size is None:
        label_size = 1 if with_label else 0
    options = {"label_size": label_size, "dtype": dtype}
    return _read(_ReadSpec("csv", with_label, options), urlpath_or_glob, as_, blocksize, storage_options)


read_csv.__doc__ = (
    "Read CSV shards (label fields first, no header) as a dask collection."
    + _READ_DOC
    + """    label_size : int, optional
        Leading label fields per row: 1 by default with `with_label`, else 0. Passed
        without `with_label`, the label fields are read as labels: a bag's batches keep
        them, arrays and dataframes leave them out.
    dtype : float64 (default), float32 or int32
        As in `sm_payloads.formats.csv.decode`.
    blocksize : int, optional
        Cut files larger than this into byte ranges, one partition each, at line ends
        (no newlines inside quoted fields then, as SageMaker's ``Line`` splitting assumes).
        Error offsets stay counted from the start of the file; lines and record indices
        are given only for the first range.
"""
)


def read_jsonlines(
    urlpath_or_glob: str | Sequence[str],
    *,
    as_: As = "array",
    with_label: bool = False,
    dtype: Any = None,
    allow_nan: bool = False,
    blocksize: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    options = {"dtype": dtype, "allow_nan": allow_nan}
    return _read(
        _ReadSpec("jsonlines", with_label, options), urlpath_or_glob, as_, blocksize, storage_options
    )


read_jsonlines.__doc__ = (
    "Read JSON Lines shards as a dask collection."
    + _READ_DOC
    + """    dtype, allow_nan
        As in `sm_payloads.formats.jsonlines.decode`.
    blocksize : int, optional
        As in `read_csv`.
"""
)


# ======================================================================================
# ShardedByS3Key
# ======================================================================================


def sharded_by_s3_key(shards: Sequence[str], instance_count: int) -> list[list[str]]:
    """Which objects each training instance gets from a channel with
    ``S3DataDistributionType: ShardedByS3Key``.

    What AWS specifies (CreateTrainingJob ``S3DataSource.S3DataDistributionType``): the
    unit is the S3 object (objects are never split); with n instances each instance gets
    approximately 1/n of the number of objects; with more instances than objects some
    instances get no data. What it does not specify: which object goes to which instance.
    This function is a model of it: the keys in S3's listing order (UTF-8 byte order), dealt
    round robin, so instance ``i`` (``algo-{i+1}``, 0-based ``i``) gets objects ``i``,
    ``i+n``, ``i+2n``, ...: counts differ by at most one, and every instance's objects keep
    the global order. Plan capacity with the counts; do not rely on the exact assignment.

    >>> sharded_by_s3_key(["s3://b/p/part-00002.rec", "s3://b/p/part-00000.rec",
    ...                    "s3://b/p/part-00001.rec"], 2)
    [['s3://b/p/part-00000.rec', 's3://b/p/part-00002.rec'], ['s3://b/p/part-00001.rec']]
    """
    if isinstance(shards, str):
        raise TypeError("shards must be a sequence of keys or URLs, not one string")
    if isinstance(instance_count, bool) or not isinstance(instance_count, (int, np.integer)):
        raise TypeError(f"instance_count must be an int, not {type(instance_count).__name__}")
    n = int(instance_count)
    if n < 1:
        raise ValueError(f"instance_count must be at least 1, not {n}")
    keys = sorted((str(s) for s in shards), key=lambda s: s.encode("utf-8"))
    return [keys[i::n] for i in range(n)]
