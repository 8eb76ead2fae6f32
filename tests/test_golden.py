"""The golden payloads in tests/golden/: intact, reproducible from the real SDK, and read
and written by sm_payloads exactly.

tests/test_recordio_protobuf.py checks the RecordIO-protobuf cases record by record; this file
checks the tree itself and the text and npy cases.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sm_payloads as smp
from sm_payloads import sdk

from .helpers import GOLDEN, ROOT, golden_manifest

MANIFEST = golden_manifest()
CASES = {c["file"]: c for c in MANIFEST["cases"]}
#: Hand-written files that the generator does not make.
NOT_GENERATED = {"README.md", "docs/autopilot_recipes.json"}

A = np.array(
    [[0.1, 1.0, -2.5, 3e-8], [1e20, 0.0, -0.0, 7.0], [np.pi, 1 / 3, 100.0, 12345.678]], dtype=np.float32
)
A_INT = np.arange(12, dtype=np.int64).reshape(3, 4) - 5


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_golden", ROOT / "scripts" / "make_golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_golden"] = module
    spec.loader.exec_module(module)
    return module


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_file_is_in_the_manifest_with_its_hash() -> None:
    files = tree(GOLDEN)
    assert set(files) - NOT_GENERATED == set(CASES) | {"manifest.json"}
    for name, case in CASES.items():
        assert len(files[name]) == case["size"], name
        assert hashlib.sha256(files[name]).hexdigest() == case["sha256"], name
    assert len(CASES) == 32


@pytest.mark.sdk
def test_the_generator_reproduces_every_byte(tmp_path: Path) -> None:
    """scripts/make_golden.py, run now against the installed SDK, writes the committed tree
    (the package versions it records may differ; nothing else may)."""
    load_generator().make(tmp_path)
    fresh, committed = tree(tmp_path), tree(GOLDEN)
    assert set(fresh) == set(committed) - NOT_GENERATED
    for name in sorted(fresh):
        if name == "manifest.json":
            continue
        assert fresh[name] == committed[name], f"{name} drifted: run python scripts/make_golden.py"
    # Byte for byte too, except the package versions it records.
    made_with = re.compile(rb'\n  "made_with": \{.*?\n  \},?\n', re.S)
    versions = [made_with.search(fresh["manifest.json"]), made_with.search(committed["manifest.json"])]
    assert versions[0] is not None and versions[1] is not None
    assert made_with.sub(b"\n", fresh["manifest.json"]) == made_with.sub(b"\n", committed["manifest.json"]), (
        f"manifest drifted (made with {versions[0].group()!r}, committed {versions[1].group()!r})"
    )


def test_the_manifest_says_what_made_each_case() -> None:
    assert MANIFEST["generator"] == "scripts/make_golden.py"
    assert set(MANIFEST["made_with"]) == {
        "sagemaker",
        "sagemaker-inference",
        "numpy",
        "scipy",
        "pandas",
        "protobuf",
        "python",
    }
    assert MANIFEST["made_with"]["sagemaker"].startswith("2.")
    assert CASES["sdk/csv/dataframe.csv"]["made_by"] == {
        "package": "sagemaker",
        "call": "sagemaker.serializers.CSVSerializer().serialize(pandas.DataFrame(array))",
        "returns": "str",
    }
    assert CASES["toolkit/npy/ndarray_f32.npy"]["made_by"] == {
        "package": "sagemaker-inference",
        "call": "sagemaker_inference.encoder.encode(array, 'application/x-npy')",
        "returns": "bytes",
    }


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def test_inputs_in_the_manifest_are_the_arrays_named_here() -> None:
    assert np.array(CASES["sdk/csv/ndarray_f32.csv"]["input"]["array"], np.float32).tobytes() == A.tobytes()
    assert CASES["sdk/csv/ndarray_int64.csv"]["input"]["array"] == A_INT.tolist()


# What smp.sdk's drop-ins write for the same calls: the SDK's bytes, and the SDK's return type.
SERIALIZED = [
    ("sdk/csv/ndarray_f32.csv", lambda: sdk.CSVSerializer().serialize(A)),
    ("sdk/csv/ndarray_f64.csv", lambda: sdk.CSVSerializer().serialize(A.astype(np.float64))),
    ("sdk/csv/list.csv", lambda: sdk.CSVSerializer().serialize(A.tolist())),
    ("sdk/csv/dataframe.csv", lambda: sdk.CSVSerializer().serialize(pd.DataFrame(A))),
    ("sdk/csv/row_1d.csv", lambda: sdk.CSVSerializer().serialize(A[0])),
    ("sdk/csv/ndarray_int64.csv", lambda: sdk.CSVSerializer().serialize(A_INT)),
    ("sdk/csv/strings.csv", lambda: sdk.CSVSerializer().serialize([["a,b", 'q"x', "c d"], ["1", "", "3"]])),
    ("sdk/json/ndarray_f32.json", lambda: sdk.JSONSerializer().serialize(A)),
    ("sdk/json/list.json", lambda: sdk.JSONSerializer().serialize(A.tolist())),
    ("sdk/json/instances.json", lambda: sdk.JSONSerializer().serialize({"instances": A})),
    ("sdk/json/ndarray_int64.json", lambda: sdk.JSONSerializer().serialize(A_INT)),
    (
        "sdk/jsonlines/features.jsonl",
        lambda: sdk.JSONLinesSerializer().serialize([{"features": r} for r in A.tolist()]),
    ),
    ("sdk/npy/ndarray_f32.npy", lambda: sdk.NumpySerializer().serialize(A)),
    (
        "sdk/recordio-protobuf/record_serializer_1d.rec",
        lambda: sdk.RecordSerializer().serialize(np.array([1.0, 2.0, 3.0, 4.0], np.float32)),
    ),
]


@pytest.mark.parametrize(("name", "call"), SERIALIZED, ids=[n for n, _ in SERIALIZED])
def test_sdk_drop_ins_write_the_golden_bytes(name: str, call: Any) -> None:
    out = call()
    returns = CASES[name]["made_by"]["returns"]
    assert ("io.BytesIO" if isinstance(out, io.BytesIO) else type(out).__name__) == returns
    data = out.getvalue() if isinstance(out, io.BytesIO) else out.encode() if isinstance(out, str) else out
    assert data == golden(name)


F32_TEXT = ["sdk/csv/ndarray_f32.csv", "sdk/csv/dataframe.csv", "toolkit/csv/ndarray_f32.csv"]
F64_TEXT = [
    "sdk/csv/ndarray_f64.csv",
    "sdk/csv/list.csv",
    "sdk/json/ndarray_f32.json",
    "sdk/json/list.json",
    "sdk/json/instances.json",
    "sdk/jsonlines/features.jsonl",
    "toolkit/json/ndarray_f32.json",
]


@pytest.mark.parametrize("name", F32_TEXT)
def test_float32_text_reads_back_to_the_float32_that_wrote_it(name: str) -> None:
    batch = smp.decode_request(golden(name), CASES[name]["content_type"])
    values = batch.to_numpy()
    assert values.dtype == np.float64 and values.shape == (3, 4)
    assert values.astype(np.float32).tobytes() == A.tobytes()
    assert batch.label == {}


@pytest.mark.parametrize("name", F64_TEXT)
def test_float64_text_reads_back_exactly(name: str) -> None:
    batch = smp.decode_request(golden(name), CASES[name]["content_type"])
    assert batch.to_numpy().tobytes() == A.astype(np.float64).tobytes()


@pytest.mark.parametrize("name", ["sdk/csv/ndarray_int64.csv", "sdk/json/ndarray_int64.json"])
def test_integer_text_reads_back(name: str) -> None:
    values = smp.decode_request(golden(name), CASES[name]["content_type"]).to_numpy()
    assert values.tolist() == [[-5.0, -4.0, -3.0, -2.0], [-1.0, 0.0, 1.0, 2.0], [3.0, 4.0, 5.0, 6.0]]


def test_one_dimensional_csv_row_and_column() -> None:
    row = smp.decode_request(golden("sdk/csv/row_1d.csv"), "text/csv").to_numpy()
    assert row.shape == (1, 4) and row.astype(np.float32).tobytes() == A[0].tobytes()
    column = smp.decode_request(golden("toolkit/csv/column_1d.csv"), "text/csv").to_numpy()
    assert column.shape == (4, 1) and column.astype(np.float32).tobytes() == A[0].tobytes()


def test_csv_strings_read_back_as_text() -> None:
    values = smp.decode_request(golden("sdk/csv/strings.csv"), "text/csv").features["values"]
    assert values.tolist() == [["a,b", 'q"x', "c d"], ["1", "", "3"]]


@pytest.mark.parametrize("name", ["sdk/npy/ndarray_f32.npy", "toolkit/npy/ndarray_f32.npy"])
def test_npy_reads_back_bit_for_bit(name: str) -> None:
    values = smp.decode_request(golden(name), "application/x-npy").to_numpy()
    assert values.dtype == np.float32 and values.tobytes() == A.tobytes()
