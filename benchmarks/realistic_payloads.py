"""Seeded generators of payloads as real tools write them (issue #23), for
``benchmarks.bench_realistic``.

Every payload is written by the tool a user would reach for (pandas, numpy, ``csv``,
orjson, ``json``, the SageMaker SDK's serializers, scikit-learn), never by sm_payloads, and
comes with the values it was written from (`Payload.expected`) or, where the writer rounds
(float32 text, ``%.18e``), with ``None``: then the exact reference is the correctly rounded
value of each token (`exact_csv`, `exact_libsvm`).

Values (`features`): 100 columns, each standard normal times its own scale ``10**u`` with
``u`` uniform in [-3, 4), so one payload holds numbers from about 1e-7 to 1e5 and Python's
``repr`` (what pandas, orjson and ``json`` print) switches to exponents below 1e-4, as
real feature columns do. Three number styles for JSON: full float64 precision (15 to 17
significant digits), rounded to 4 decimals, and integers.

Every generator takes ``rows`` and a seed; `rows_for` picks the row count that makes a
payload about a target size, from a 200-row sample of the same generator.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import orjson
import scipy.sparse as sp

COLS = 100
SPARSE_COLS = 10_000
SPARSE_MEAN_NNZ = 50  # non-zeros per row, uniform in [10, 90)
RESPONSE_RECORDS = 100_000

FEATURE_SEED = 20260123
INT_SEED = 20260124
SPARSE_SEED = 20260125
RESPONSE_SEED = 20260126


class Payload(NamedTuple):
    family: str  # "csv", "json", "jsonl", "libsvm", "response-json", "response-jsonl"
    name: str  # what is in it (the shape, or the CSV writer)
    writer: str  # who wrote it
    numbers: str  # how the numbers are spelled
    body: bytes
    rows: int
    #: The values written (float64 array, CSR matrix, or dict of label arrays) where the
    #: text reads back to exactly them; None where the writer rounded them.
    expected: Any


# ======================================================================================
# Values
# ======================================================================================


def features(rows: int, cols: int = COLS, *, seed: int = FEATURE_SEED) -> np.ndarray:
    """(rows, cols) float64: standard normal times a per-column scale 10**U[-3, 4)."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-3.0, 4.0, cols)
    return rng.standard_normal((rows, cols)) * scale


def integers(rows: int, cols: int = COLS, *, seed: int = INT_SEED) -> np.ndarray:
    """(rows, cols) int64 in [-1000, 100000): counts, ids, amounts in cents."""
    return np.random.default_rng(seed).integers(-1000, 100_000, (rows, cols))


def styled(rows: int, numbers: str, cols: int = COLS) -> tuple[list[list[Any]], np.ndarray]:
    """(Python rows as a user hands them to a JSON writer, the float64 values they hold)."""
    if numbers == "integers":
        X = integers(rows, cols)
        return X.tolist(), X.astype(np.float64)
    X = features(rows, cols)
    if numbers == "4 decimals":
        X = np.round(X, 4)
    elif numbers != "full precision":
        raise ValueError(numbers)
    return X.tolist(), X


def sparse(rows: int, numbers: str, cols: int = SPARSE_COLS, *, seed: int = SPARSE_SEED) -> sp.csr_array:
    """CSR float64 (rows, cols), 10 to 89 sorted distinct keys per row (about 50)."""
    rng = np.random.default_rng(seed)
    per_row = rng.integers(10, 2 * SPARSE_MEAN_NNZ - 10, rows)
    row = np.repeat(np.arange(rows, dtype=np.int64), per_row)
    flat = np.unique(row * cols + rng.integers(0, cols, row.size))  # sorts, drops duplicates
    row, indices = np.divmod(flat, cols)
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=rows), out=indptr[1:])
    if numbers == "integers":
        data = rng.integers(1, 100, flat.size).astype(np.float64)
    else:
        data = rng.standard_normal(flat.size) * 10.0 ** rng.uniform(-3.0, 4.0, flat.size)
        if numbers == "4 decimals":
            data = np.round(data, 4)
            data[data == 0] = 0.0001  # a stored zero would change the matrix's structure
    # int32 index arrays, as scipy builds them (scikit-learn's writer accepts no other)
    return sp.csr_array((data, indices.astype(np.int32), indptr.astype(np.int32)), shape=(rows, cols))


# ======================================================================================
# CSV, as pandas, numpy and the csv module write it
# ======================================================================================


def _pandas(X: np.ndarray, **kw: Any) -> bytes:
    import pandas as pd

    return pd.DataFrame(X).to_csv(header=False, index=False, **kw).encode()


def _savetxt(X: np.ndarray, **kw: Any) -> bytes:
    out = io.BytesIO()
    np.savetxt(out, X, delimiter=",", **kw)
    return out.getvalue()


def _csv_writer(X: np.ndarray) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerows(X.tolist())
    return out.getvalue().encode()


#: name -> (writer, numbers, writes back exactly the float64 values it was given)
CSV_WRITERS: dict[str, tuple[Callable[[np.ndarray], bytes], str, bool]] = {
    "pandas to_csv, float64": (_pandas, "repr, 15-17 digits", True),
    "pandas to_csv, float32": (lambda X: _pandas(X.astype(np.float32)), "float32 shortest", False),
    "pandas to_csv, QUOTE_ALL": (
        lambda X: _pandas(X, quoting=csv.QUOTE_ALL),
        "repr, every field quoted",
        True,
    ),
    'numpy.savetxt fmt="%.17g"': (lambda X: _savetxt(X, fmt="%.17g"), "17 digits", True),
    "csv.writer QUOTE_NONNUMERIC": (_csv_writer, "repr, CRLF", True),
    'numpy.savetxt fmt="%.18e", CRLF': (
        lambda X: _savetxt(X, fmt="%.18e", newline="\r\n"),
        "scientific, 19 digits, CRLF",
        False,
    ),
}


def csv_payload(name: str, rows: int) -> Payload:
    write, numbers, exact = CSV_WRITERS[name]
    X = features(rows)
    return Payload("csv", name, name.split(",")[0], numbers, write(X), rows, X if exact else None)


def csv_tokens(body: bytes) -> list[bytes]:
    """The fields of a numeric CSV body, quotes and line ends removed."""
    flat = body.replace(b'"', b"").replace(b"\r\n", b"\n").replace(b"\n", b",")
    return [t for t in flat.split(b",") if t]


def exact_csv(body: bytes, cols: int = COLS) -> tuple[np.ndarray, list[bytes]]:
    """The correctly rounded float64 of every field (CPython's ``float``), and the fields."""
    tokens = csv_tokens(body)
    values = np.fromiter(map(float, tokens), np.float64, len(tokens))
    return values.reshape(-1, cols), tokens


# ======================================================================================
# JSON and JSON Lines, as orjson, json.dumps and the SDK serializers write them
# ======================================================================================

JSON_SHAPES = (
    '{"instances": [[...], ...]}',
    '{"instances": [{"features": [...]}, ...]}',
    '{"instances": [{"data": {"features": {"values": [...]}}}, ...]}',
    '{"instances": [{"data": {"features": {"keys", "shape", "values"}}}, ...]}',
    "[[...], ...]",
)
JSONL_SHAPES = ("[...] per line", '{"features": [...]} per line')
NUMBER_STYLES = ("full precision", "4 decimals", "integers")
#: orjson: compact; json.dumps: ", " and ": " (the SDK's JSONSerializer is json.dumps of
#: the dict or list, its JSONLinesSerializer "\n".join of json.dumps per item; the
#: benchmark checks the bytes against the SDK classes).
JSON_WRITERS = ("orjson.dumps", "json.dumps = SDK JSONSerializer")
JSONL_WRITERS = ("orjson.dumps per line", "SDK JSONLinesSerializer")

SPARSE_SHAPE = JSON_SHAPES[3]


def sparse_instances(X: sp.csr_array, ints: bool) -> list[dict[str, Any]]:
    """Each row as ``{"data": {"features": {"keys": [...], "shape": [D], "values": [...]}}}``
    (`ints`: values as Python ints, so they print as ``7``, not ``7.0``)."""
    cuts = X.indptr[1:-1]
    keys = np.split(X.indices, cuts)
    vals = np.split(X.data, cuts)
    D = X.shape[1]
    return [
        {
            "data": {
                "features": {
                    "keys": k.tolist(),
                    "shape": [D],
                    "values": v.astype(np.int64).tolist() if ints else v.tolist(),
                }
            }
        }
        for k, v in zip(keys, vals, strict=True)
    ]


def json_document(shape: str, rows: int, numbers: str) -> tuple[Any, Any]:
    """(the Python object a user serializes, the values it holds)."""
    if shape == SPARSE_SHAPE:
        X = sparse(rows, numbers)
        return {"instances": sparse_instances(X, numbers == "integers")}, X
    lists, values = styled(rows, numbers)
    if shape == JSON_SHAPES[0]:
        return {"instances": lists}, values
    if shape == JSON_SHAPES[1]:
        return {"instances": [{"features": r} for r in lists]}, values
    if shape == JSON_SHAPES[2]:
        return {"instances": [{"data": {"features": {"values": r}}} for r in lists]}, values
    if shape == JSON_SHAPES[4]:
        return lists, values
    raise ValueError(shape)


def json_payload(shape: str, rows: int, numbers: str, writer: str) -> Payload:
    doc, values = json_document(shape, rows, numbers)
    body = orjson.dumps(doc) if writer == JSON_WRITERS[0] else json.dumps(doc).encode()
    return Payload("json", shape, writer, numbers, body, rows, values)


def jsonl_items(shape: str, rows: int, numbers: str) -> tuple[list[Any], np.ndarray]:
    lists, values = styled(rows, numbers)
    if shape == JSONL_SHAPES[0]:
        return lists, values
    if shape == JSONL_SHAPES[1]:
        return [{"features": r} for r in lists], values
    raise ValueError(shape)


def jsonl_payload(shape: str, rows: int, numbers: str, writer: str) -> Payload:
    items, values = jsonl_items(shape, rows, numbers)
    if writer == JSONL_WRITERS[0]:
        body = b"".join(orjson.dumps(x) + b"\n" for x in items)  # a newline after every line
    else:
        body = "\n".join(json.dumps(x) for x in items).encode()  # the SDK: none after the last
    return Payload("jsonl", shape, writer, numbers, body, rows, values)


# ======================================================================================
# libsvm, as scikit-learn writes it
# ======================================================================================


def libsvm_payload(rows: int) -> Payload:
    from sklearn.datasets import dump_svmlight_file

    X = sparse(rows, "full precision")
    y = np.random.default_rng(SPARSE_SEED + 1).integers(0, 2, rows).astype(np.float64)
    out = io.BytesIO()
    dump_svmlight_file(X, y, out, zero_based=True)
    return Payload(
        "libsvm",
        "label + index:value",
        "sklearn dump_svmlight_file",
        '"%.16g" (16 digits)',
        out.getvalue(),
        rows,
        (X, y),
    )


def exact_libsvm(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(labels, values) read with CPython's correctly rounded ``float``, in file order."""
    labels = []
    values = []
    for line in body.splitlines():
        toks = line.split()
        labels.append(float(toks[0]))
        values.extend(float(t.partition(b":")[2]) for t in toks[1:])
    return np.array(labels), np.array(values)


# ======================================================================================
# Responses
# ======================================================================================


def response_records(records: int = RESPONSE_RECORDS, *, seed: int = RESPONSE_SEED) -> list[dict[str, Any]]:
    """Binary classifier outputs, one dict per record as an inference script returns them:
    ``{"score": <float32 probability as a Python float>, "predicted_label": 0 | 1}``."""
    rng = np.random.default_rng(seed)
    score = (1 / (1 + np.exp(-rng.standard_normal(records) * 2))).astype(np.float32).astype(np.float64)
    label = (score > 0.5).astype(np.int64)
    return [
        {"score": s, "predicted_label": lab} for s, lab in zip(score.tolist(), label.tolist(), strict=True)
    ]


def predictions_payload(records: int = RESPONSE_RECORDS) -> Payload:
    """``{"predictions": [{"score": ..., "predicted_label": ...}, ...]}`` by ``json.dumps``
    (what the Linear Learner binary classifier answers)."""
    recs = response_records(records)
    body = json.dumps({"predictions": recs}).encode()
    expected = {
        "score": np.array([r["score"] for r in recs]),
        "predicted_label": np.array([r["predicted_label"] for r in recs], np.float64),
    }
    return Payload(
        "response-json",
        '{"predictions": [{"score", "predicted_label"}]}',
        "json.dumps",
        "float32 as float64 repr",
        body,
        records,
        expected,
    )


def kmeans_payload(records: int = RESPONSE_RECORDS, *, seed: int = RESPONSE_SEED + 1) -> Payload:
    """k-means JSON Lines: ``{"closest_cluster": 3.0, "distance_to_cluster": 23.40593910217285}``
    per line, json.dumps spacing, a newline after each."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 10, records).astype(np.float64)
    dist = (rng.gamma(4.0, 6.0, records)).astype(np.float32).astype(np.float64)
    lines = [
        json.dumps({"closest_cluster": c, "distance_to_cluster": d})
        for c, d in zip(cluster.tolist(), dist.tolist(), strict=True)
    ]
    body = ("\n".join(lines) + "\n").encode()
    expected = {"closest_cluster": cluster, "distance_to_cluster": dist}
    return Payload(
        "response-jsonl",
        "k-means {closest_cluster, distance_to_cluster}",
        "json.dumps per line",
        "float32 as float64 repr",
        body,
        records,
        expected,
    )


# ======================================================================================
# Sizing
# ======================================================================================


def rows_for(make: Callable[[int], Payload], target_bytes: float, sample: int = 200) -> int:
    """Rows that make ``make(rows)`` about `target_bytes`, from a `sample`-row payload."""
    per_row = len(make(sample).body) / sample
    return max(1, round(target_bytes / per_row))
