"""Regenerate the golden payloads in ``tests/golden/`` with the real SageMaker Python SDK v2.

    python scripts/make_golden.py            # rewrites tests/golden/
    python scripts/make_golden.py --out DIR  # writes the same tree under DIR

Every case is one file written by the SDK (or by the SageMaker inference toolkit's encoder,
which serving containers use), plus an entry in ``manifest.json`` that says what made it: the
package, the call, its exact input, and for RecordIO-protobuf the frame table and the records
as the SDK's own reader (``read_records``, protobuf's parser) sees them. Nothing here depends on
sm_payloads, so the files are an independent oracle for its tests.

The output is deterministic (no random numbers, no time stamps): ``tests/test_golden.py``
regenerates the tree into a temporary directory and compares it with the committed one byte
for byte, apart from the ``made_with`` version list.

Needs the ``test`` dependency group (``sagemaker<3``, ``sagemaker-inference``, pandas).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import struct
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
logging.getLogger("sagemaker.config").setLevel(logging.ERROR)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"
MAGIC = 0xCED7230A
#: Packages whose versions the manifest records (not compared by the drift test).
VERSIONED = ("sagemaker", "sagemaker-inference", "numpy", "scipy", "pandas", "protobuf")


def number(x: Any) -> Any:
    """A JSON-safe number: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def numbers(a: Any) -> Any:
    return [numbers(v) for v in a] if isinstance(a, list) else number(a)


def dense_input(X: np.ndarray, y: np.ndarray | None = None) -> dict[str, Any]:
    return {
        "kind": "dense",
        "array": numbers(X.tolist()),
        "dtype": str(X.dtype),
        "shape": list(X.shape),
        "labels": None if y is None else numbers(y.tolist()),
        "label_dtype": None if y is None else str(y.dtype),
    }


def csr_input(X: sp.csr_matrix, y: np.ndarray | None = None) -> dict[str, Any]:
    return {
        "kind": "csr",
        "data": numbers(X.data.tolist()),
        "indices": X.indices.tolist(),
        "indptr": X.indptr.tolist(),
        "shape": list(X.shape),
        "dtype": str(X.dtype),
        "labels": None if y is None else numbers(y.tolist()),
        "label_dtype": None if y is None else str(y.dtype),
    }


def frame_table(raw: bytes) -> list[dict[str, int]]:
    """The RecordIO frames of an SDK file (the SDK writes only whole, unsplit records)."""
    frames, offset = [], 0
    while offset < len(raw):
        magic, length = struct.unpack_from("<II", raw, offset)
        if magic != MAGIC or length >> 29:
            raise SystemExit(f"unexpected frame header at byte {offset}")
        pad = -length % 4
        frames.append({"offset": offset, "length": length, "pad": pad})
        offset += 8 + length + pad
    return frames


def tensor_entry(value: Any) -> dict[str, Any]:
    kind = value.WhichOneof("value")
    tensor = getattr(value, kind)
    entry: dict[str, Any] = {"type": kind}
    if kind == "int32_tensor":
        entry["values"] = [int(v) for v in tensor.values]
    else:
        entry["values"] = [number(float(v)) for v in tensor.values]
    if kind == "float32_tensor":
        entry["values_f32_bits_hex"] = [struct.pack("<f", v).hex() for v in tensor.values]
    entry["keys"] = [int(k) for k in tensor.keys]
    entry["shape"] = [int(s) for s in tensor.shape]
    return entry


def record_entries(raw: bytes) -> list[dict[str, Any]]:
    """What the SDK's own reader finds in the file."""
    from sagemaker.amazon.common import read_records

    return [
        {
            "features": {k: tensor_entry(v) for k, v in sorted(r.features.items())},
            "label": {k: tensor_entry(v) for k, v in sorted(r.label.items())},
        }
        for r in read_records(io.BytesIO(raw))
    ]


class Golden:
    """Collects the cases and writes the tree."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.cases: list[dict[str, Any]] = []

    def add(
        self,
        path: str,
        data: bytes,
        *,
        content_type: str,
        package: str,
        call: str,
        what: str,
        inputs: dict[str, Any] | None = None,
        returns: str = "bytes",
    ) -> None:
        target = self.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        case: dict[str, Any] = {
            "file": path,
            "content_type": content_type,
            "made_by": {"package": package, "call": call, "returns": returns},
            "what": what,
            "input": inputs,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        if content_type == "application/x-recordio-protobuf":
            case["frames"] = frame_table(data)
            case["records"] = record_entries(data)
        self.cases.append(case)

    def write_manifest(self) -> None:
        manifest = {
            "generator": "scripts/make_golden.py",
            "made_with": {name: version(name) for name in VERSIONED}
            | {"python": ".".join(map(str, sys.version_info[:2]))},
            "conventions": {
                "numbers": "non-finite values in inputs and records are the strings nan, inf, -inf",
                "input.kind": "dense: array (rows), dtype, shape; csr: data, indices, indptr, shape, "
                "dtype; labels and label_dtype, or null",
                "records": "per record, each map's tensors as the SDK's reader parses them: type, "
                "values (float32 also as little-endian bit patterns), keys, shape",
                "made_by.returns": "the Python type the call returned; the file holds its bytes "
                "(str encoded as UTF-8, io.BytesIO by getvalue())",
            },
            "cases": self.cases,
        }
        (self.out / "manifest.json").write_text(dump(manifest) + "\n", encoding="utf-8")


def dump(obj: Any, indent: str = "") -> str:
    """JSON with one key per line, except that a list holding no object, and a short object
    of scalars, stay on one line (readable diffs without a line per number)."""
    inner = indent + "  "
    flat = json.dumps(obj, allow_nan=False, separators=(", ", ": "))
    scalars = isinstance(obj, dict) and not any(isinstance(v, (dict, list)) for v in obj.values())
    if scalars and len(flat) <= 80:
        return flat
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {dump(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        return "[\n" + ",\n".join(inner + dump(v, inner) for v in obj) + "\n" + indent + "]"
    return flat


def as_bytes(out: Any) -> tuple[bytes, str]:
    if isinstance(out, io.BytesIO):
        return out.getvalue(), "io.BytesIO"
    if isinstance(out, str):
        return out.encode("utf-8"), "str"
    return bytes(out), type(out).__name__


def recordio_cases(g: Golden) -> None:
    from sagemaker.amazon.common import (
        RecordSerializer,
        write_numpy_to_dense_tensor,
        write_spmatrix_to_sparse_tensor,
    )

    def written(name: str, writer: Any, X: Any, y: np.ndarray | None, what: str) -> None:
        buf = io.BytesIO()
        writer(buf, X, y)
        args = (
            "file, " + ("csr_matrix" if sp.issparse(X) else "array") + (", labels" if y is not None else "")
        )
        g.add(
            f"sdk/recordio-protobuf/{name}.rec",
            buf.getvalue(),
            content_type="application/x-recordio-protobuf",
            package="sagemaker",
            call=f"sagemaker.amazon.common.{writer.__name__}({args})",
            what=what,
            inputs=csr_input(X, y) if sp.issparse(X) else dense_input(X, y),
            returns="None (writes to file, an io.BytesIO)",
        )

    def dense(name: str, X: np.ndarray, y: np.ndarray | None, what: str) -> None:
        written(name, write_numpy_to_dense_tensor, X, y, what)

    def sparse(name: str, X: sp.csr_matrix, y: np.ndarray | None, what: str) -> None:
        written(name, write_spmatrix_to_sparse_tensor, X, y, what)

    grid = np.arange(40, dtype=np.float64).reshape(10, 4) / 7.0 - 2.0
    y32 = np.arange(10, dtype=np.float32)
    y64 = np.arange(10, dtype=np.float64)
    dense(
        "dense_f32",
        grid.astype(np.float32),
        y32,
        "10x4 float32 rows: features['values'] is a float32_tensor of 4 values, "
        "label['values'] one float32; no keys, no shape",
    )
    dense("dense_f32_nolabel", grid.astype(np.float32), None, "the same rows without labels: no label entry")
    dense("dense_f64", grid, y64, "float64 features and labels: float64_tensor")
    dense(
        "dense_f32_labels_f64",
        grid.astype(np.float32),
        y64,
        "the feature and label tensor types follow their own arrays' dtypes",
    )
    ints = np.array(
        [[0, 1, -1, 127], [128, -128, 300, -300], [2**31 - 1, -(2**31), 16384, -16385]], dtype=np.int64
    )
    dense(
        "dense_int64",
        ints,
        np.array([0, 1, -5], dtype=np.int64),
        "int64 becomes int32_tensor, packed varints (a negative value takes 10 bytes); "
        "the SDK rejects np.int32 input and int64 values outside int32",
    )
    f32 = np.finfo(np.float32)
    special = np.array(
        [[np.nan, np.inf, -np.inf, -0.0], [np.float32(1.4e-45), f32.max, -f32.tiny, np.float32(0.1)]],
        dtype=np.float32,
    )
    dense("dense_f32_special", special, None, "NaN, infinities, -0.0, the smallest subnormal, float32 max")
    magic_float = np.array([MAGIC], dtype="<u4").view("<f4")[0]
    dense(
        "dense_f32_magic_in_payload",
        np.array([[magic_float, 1.0, 2.0, 3.0]], dtype=np.float32),
        None,
        "the first value's bits are the RecordIO magic 0xCED7230A, 4-byte aligned in the payload; "
        "the SDK still writes one plain frame (dmlc-core's writer would split the record)",
    )
    dense(
        "dense_f32_zero_cols",
        np.zeros((2, 0), dtype=np.float32),
        None,
        "2x0: two records, each with a present but empty float32_tensor",
    )
    dense("dense_f32_zero_rows", np.zeros((0, 4), dtype=np.float32), None, "0x4: an empty file")
    dense(
        "dense_f64_wide",
        np.arange(80, dtype=np.float64).reshape(2, 40) / 3.0,
        np.array([1.5, -2.5]),
        "40 float64 columns: the packed field is 320 bytes, a 2-byte varint length",
    )

    rows = [
        [(3, 1.5), (17, -2.0)],
        [],
        [(0, 0.25)],
        [(49, 7.0)],
        [(5, 1.0), (6, 2.0), (7, 3.0)],
        [],
        [(10, -0.5)],
        [(20, 0.1)],
        [(1, 9.0), (48, -9.0)],
        [(25, 1e-3)],
    ]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    cols = np.array([c for r in rows for c, _ in r], dtype=np.int32)
    vals = np.array([v for r in rows for _, v in r], dtype=np.float32)
    sparse(
        "sparse_f32",
        sp.csr_matrix((vals, cols, indptr.astype(np.int32)), shape=(10, 50)),
        y32,
        "10x50 CSR float32 with labels: keys are the column indices, shape is [50]; "
        "an empty row still has a float32_tensor holding only its shape",
    )
    sparse(
        "sparse_f64_nolabel",
        sp.csr_matrix(
            (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0, 127, 128, 999, 500]), [0, 2, 4, 4, 5, 5]),
            shape=(5, 1000),
        ),
        None,
        "float64 values, keys of 128 and more (2-byte varints), no labels",
    )
    sparse(
        "sparse_int64",
        sp.csr_matrix(
            (np.array([5, -7, 2**31 - 1], np.int64), np.array([2, 0, 3]), np.array([0, 2, 3])), shape=(2, 4)
        ),
        np.array([1, 0], np.int64),
        "int64 sparse values become int32_tensor",
    )
    sparse(
        "sparse_f32_unsorted_dup",
        sp.csr_matrix(
            (np.array([1.0, 2.0, 3.0, 0.0], np.float32), np.array([3, 0, 3, 1]), [0, 4]), shape=(1, 4)
        ),
        None,
        "unsorted column indices, a duplicate (3) and an explicit zero: written in storage order as given",
    )

    one_row = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    data, returns = as_bytes(RecordSerializer().serialize(one_row))
    g.add(
        "sdk/recordio-protobuf/record_serializer_1d.rec",
        data,
        content_type="application/x-recordio-protobuf",
        package="sagemaker",
        call="sagemaker.amazon.common.RecordSerializer().serialize(array)",
        what="a 1-D array is one record; RecordSerializer never writes labels",
        inputs=dense_input(one_row.reshape(1, 4)),
        returns=returns,
    )


#: The small arrays the text cases serialize.
A = np.array(
    [[0.1, 1.0, -2.5, 3e-8], [1e20, 0.0, -0.0, 7.0], [np.pi, 1 / 3, 100.0, 12345.678]], dtype=np.float32
)
A_INT = np.arange(12, dtype=np.int64).reshape(3, 4) - 5


def text_cases(g: Golden) -> None:
    import pandas as pd
    from sagemaker.serializers import CSVSerializer, JSONLinesSerializer, JSONSerializer, NumpySerializer
    from sagemaker_inference import encoder

    def sdk(
        path: str, call: str, make: Callable[[], Any], content_type: str, inputs: dict[str, Any], what: str
    ) -> None:
        data, returns = as_bytes(make())
        g.add(
            path,
            data,
            content_type=content_type,
            package="sagemaker",
            call=call,
            what=what,
            inputs=inputs,
            returns=returns,
        )

    def toolkit(path: str, array: np.ndarray, content_type: str, what: str) -> None:
        data, returns = as_bytes(encoder.encode(array, content_type))
        g.add(
            path,
            data,
            content_type=content_type,
            package="sagemaker-inference",
            call=f"sagemaker_inference.encoder.encode(array, {content_type!r})",
            what=what,
            inputs=dense_input(array),
            returns=returns,
        )

    csv, js = CSVSerializer(), JSONSerializer()
    a, a64, a_int = dense_input(A), dense_input(A.astype(np.float64)), dense_input(A_INT)
    sdk(
        "sdk/csv/ndarray_f32.csv",
        "sagemaker.serializers.CSVSerializer().serialize(array)",
        lambda: csv.serialize(A),
        "text/csv",
        a,
        "float32 rows: numpy's shortest round-trip text per value, rows joined by newlines, no final newline",
    )
    sdk(
        "sdk/csv/ndarray_f64.csv",
        "sagemaker.serializers.CSVSerializer().serialize(array)",
        lambda: csv.serialize(A.astype(np.float64)),
        "text/csv",
        a64,
        "the same values widened to float64: the float64 shortest text (more digits)",
    )
    sdk(
        "sdk/csv/list.csv",
        "sagemaker.serializers.CSVSerializer().serialize(array.tolist())",
        lambda: csv.serialize(A.tolist()),
        "text/csv",
        a,
        "nested Python lists of the float32 values: Python's repr of each double",
    )
    sdk(
        "sdk/csv/dataframe.csv",
        "sagemaker.serializers.CSVSerializer().serialize(pandas.DataFrame(array))",
        lambda: csv.serialize(pd.DataFrame(A)),
        "text/csv",
        a,
        "a DataFrame: pandas' to_csv without header and index, final newline included",
    )
    sdk(
        "sdk/csv/row_1d.csv",
        "sagemaker.serializers.CSVSerializer().serialize(array[0])",
        lambda: csv.serialize(A[0]),
        "text/csv",
        dense_input(A[0]),
        "a 1-D array is one row",
    )
    sdk(
        "sdk/csv/ndarray_int64.csv",
        "sagemaker.serializers.CSVSerializer().serialize(array)",
        lambda: csv.serialize(A_INT),
        "text/csv",
        a_int,
        "integers are written without a decimal point",
    )
    strings = [["a,b", 'q"x', "c d"], ["1", "", "3"]]
    sdk(
        "sdk/csv/strings.csv",
        "sagemaker.serializers.CSVSerializer().serialize(rows)",
        lambda: csv.serialize(strings),
        "text/csv",
        {"kind": "rows", "rows": strings},
        "text fields: a comma or a quote makes the field quoted, quotes doubled",
    )
    sdk(
        "sdk/json/ndarray_f32.json",
        "sagemaker.serializers.JSONSerializer().serialize(array)",
        lambda: js.serialize(A),
        "application/json",
        a,
        "an ndarray is written as a bare nested list (no instances envelope)",
    )
    sdk(
        "sdk/json/list.json",
        "sagemaker.serializers.JSONSerializer().serialize(array.tolist())",
        lambda: js.serialize(A.tolist()),
        "application/json",
        a,
        "nested lists: json.dumps",
    )
    sdk(
        "sdk/json/instances.json",
        "sagemaker.serializers.JSONSerializer().serialize({'instances': array})",
        lambda: js.serialize({"instances": A}),
        "application/json",
        a,
        "a dict: each ndarray value becomes a nested list",
    )
    sdk(
        "sdk/json/ndarray_int64.json",
        "sagemaker.serializers.JSONSerializer().serialize(array)",
        lambda: js.serialize(A_INT),
        "application/json",
        a_int,
        "integers stay integers",
    )
    sdk(
        "sdk/jsonlines/features.jsonl",
        "sagemaker.serializers.JSONLinesSerializer().serialize([{'features': r} for r in array.tolist()])",
        lambda: JSONLinesSerializer().serialize([{"features": r} for r in A.tolist()]),
        "application/jsonlines",
        a,
        "one {'features': [...]} object per line, no final newline",
    )
    sdk(
        "sdk/npy/ndarray_f32.npy",
        "sagemaker.serializers.NumpySerializer().serialize(array)",
        lambda: NumpySerializer().serialize(A),
        "application/x-npy",
        a,
        "numpy.save of the array (format 1.0, little-endian float32)",
    )
    toolkit("toolkit/csv/ndarray_f32.csv", A, "text/csv", "the inference toolkit's CSV: a final newline")
    toolkit(
        "toolkit/csv/column_1d.csv",
        A[0],
        "text/csv",
        "a 1-D array is one value per line (a column), unlike the SDK's CSVSerializer",
    )
    toolkit("toolkit/json/ndarray_f32.json", A, "application/json", "json.dumps of array.tolist()")
    toolkit("toolkit/npy/ndarray_f32.npy", A, "application/x-npy", "numpy.save of the array")


def make(out: Path) -> Golden:
    g = Golden(out)
    recordio_cases(g)
    text_cases(g)
    g.write_manifest()
    return g


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=GOLDEN, help="output folder (default: tests/golden)")
    args = parser.parse_args(argv)
    g = make(args.out)
    print(f"wrote {len(g.cases)} cases and manifest.json to {args.out}")


if __name__ == "__main__":
    main()
