"""The ``sm-payloads`` command line: every convert pair with exact values, streams, errors,
exit codes, inspect's exact text, and bounded memory when streaming."""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import sm_payloads as smp
from sm_payloads import cli

from .helpers import ROOT

REC = "application/x-recordio-protobuf"
F32 = np.float32

# Values chosen to break any lossy path: shortest texts of float32 that differ from the
# float64 of the same text, the extremes, a subnormal. Every column has a non-zero value
# (libsvm drops zeros, so an all-zero last column would narrow the matrix).
X = np.array(
    [
        [0.1, 1e-7, 0.0, 3.4028235e38],
        [-2.5, 0.0, 16777217.0, 1e-45],
        [1 / 3, 7.0, -0.3, 0.0],
    ],
    F32,
)
Y = np.array([1.0, 0.0, 0.1], F32)

# Formats as written for the test: (file name, media type that encodes it, --from for reading).
LABELLED = {
    "csv": ("d.csv", "text/csv", "text/csv;label_size=1"),
    "rec": ("d.rec", REC, None),
    "jsonl": ("d.jsonl", "application/jsonlines", None),
    "json": ("d.json", "application/json", None),
    "libsvm": ("d.libsvm", "text/libsvm", None),
}
UNLABELLED = {**LABELLED, "csv": ("d.csv", "text/csv", None), "npy": ("d.npy", "application/x-npy", None)}
TEXT = {"csv", "jsonl", "json", "libsvm"}


def run(*argv: str) -> int:
    return cli.main(list(argv))


def dense(col: Any) -> np.ndarray:
    if sp.issparse(col):
        return np.asarray(col.toarray())
    return np.asarray(col)


def bits(a: np.ndarray) -> list[int]:
    assert a.dtype == F32, a.dtype
    return a.view(np.uint32).ravel().tolist()


def read_back(path: Path, media: str, text: bool) -> smp.RecordBatch:
    data = path.read_bytes()
    if text:
        return smp.decode_request(data, media, dtype=F32)
    return smp.decode_request(data, media)


# --------------------------------------------------------------------------------------
# convert: every pair, values bit for bit
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dst", list(LABELLED))
@pytest.mark.parametrize("src", list(LABELLED))
def test_convert_every_pair_with_label(tmp_path: Path, src: str, dst: str) -> None:
    name, media, read_as = LABELLED[src]
    source = tmp_path / f"in-{name}"
    source.write_bytes(smp.encode_request(smp.from_dense(X, Y), media))
    out_name, out_media, out_read_as = LABELLED[dst]
    target = tmp_path / f"out-{out_name}"
    argv = ["convert", str(source), str(target), "-q"]
    if read_as:
        argv += ["--from", read_as]
    if src in TEXT:
        argv += ["--dtype", "float32"]
    assert run(*argv) == 0
    got = read_back(target, out_read_as or out_media, dst in TEXT)
    assert len(got) == 3
    assert bits(dense(got.features["values"])) == bits(X)
    assert bits(dense(got.label["values"]).reshape(-1)) == bits(Y)
    if dst == "rec":
        assert got.features["values"].dtype == F32  # binary output keeps float32


@pytest.mark.parametrize("dst", list(UNLABELLED))
@pytest.mark.parametrize("src", list(UNLABELLED))
def test_convert_every_pair_features_only(tmp_path: Path, src: str, dst: str) -> None:
    name, media, _ = UNLABELLED[src]
    source = tmp_path / f"in-{name}"
    source.write_bytes(smp.encode_request(smp.from_dense(X), media))
    out_name, out_media, _ = UNLABELLED[dst]
    target = tmp_path / f"out-{out_name}"
    argv = ["convert", str(source), str(target), "-q"]
    if src in TEXT:
        argv += ["--dtype", "float32"]
    assert run(*argv) == 0
    got = read_back(target, out_media, dst in TEXT)
    assert list(got.label) == []
    assert bits(dense(got.features["values"])) == bits(X)


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=40)
@given(
    X=st.integers(1, 7).flatmap(lambda n: arrays(F32, (n, 3), elements=finite32)),
    via=st.sampled_from(["text/csv;label_size=1", "application/jsonlines"]),
    batch_size=st.integers(1, 4),
)
def test_property_recordio_through_text_and_back_is_bit_exact(
    X: np.ndarray, via: str, batch_size: int
) -> None:
    """float32 → text → float32 (with --dtype float32) gives the same bits, -0.0 included,
    whatever the batch size (batches concatenate into one valid file)."""
    batch = smp.from_dense(X, X[:, 0].copy())
    with tempfile.TemporaryDirectory() as tmp:
        a, b, c = (os.path.join(tmp, n) for n in ("a.rec", "b.txt", "c.rec"))
        Path(a).write_bytes(smp.encode_request(batch, REC))
        bs = str(batch_size)
        assert run("convert", a, b, "--to", via, "--batch-size", bs) == 0
        assert run("convert", b, c, "--from", via, "--dtype", "float32", "--batch-size", bs) == 0
        assert Path(c).read_bytes() == Path(a).read_bytes()


def test_convert_bytes_equal_the_library_encoding(tmp_path: Path) -> None:
    """Each output is exactly what the codec writes for the whole data (CSV: plus a final
    newline, as a text file ends)."""
    batch = smp.from_dense(X, Y)
    source = tmp_path / "d.rec"
    source.write_bytes(smp.encode_request(batch, REC))
    for name, media in [
        ("o.csv", "text/csv"),
        ("o.jsonl", "application/jsonlines"),
        ("o.json", "application/json"),
        ("o.svm", "text/libsvm"),
        ("o.rec", REC),
    ]:
        assert run("convert", str(source), str(tmp_path / name), "--batch-size", "1") == 0
        expected = smp.encode_request(batch, media) + (b"\n" if media == "text/csv" else b"")
        assert (tmp_path / name).read_bytes() == expected, name


def test_convert_float32_to_csv_and_back_is_bit_exact_only_with_dtype(tmp_path: Path) -> None:
    (tmp_path / "d.rec").write_bytes(smp.encode_request(smp.from_dense(X), REC))
    assert run("convert", str(tmp_path / "d.rec"), str(tmp_path / "d.csv")) == 0
    assert (tmp_path / "d.csv").read_bytes() == (
        b"0.1,1e-07,0.0,3.4028235e+38\n-2.5,0.0,1.6777216e+07,1e-45\n0.33333334,7.0,-0.3,0.0\n"
    )
    assert run("convert", str(tmp_path / "d.csv"), str(tmp_path / "a.rec")) == 0
    as64 = smp.decode_request((tmp_path / "a.rec").read_bytes(), REC).to_numpy()
    assert as64.dtype == np.float64 and as64[0, 0] == 0.1  # the decimal text, as float64
    assert bits(as64.astype(F32)) == bits(X)  # casting back gives the original float32
    assert run("convert", str(tmp_path / "d.csv"), str(tmp_path / "b.rec"), "--dtype", "float32") == 0
    as32 = smp.decode_request((tmp_path / "b.rec").read_bytes(), REC).to_numpy()
    assert bits(as32) == bits(X)


def test_nan_needs_allow_nan_for_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "n.csv").write_bytes(b"nan,1\ninf,-inf\n")
    out = tmp_path / "n.jsonl"
    assert run("convert", str(tmp_path / "n.csv"), str(out)) == 1
    assert capsys.readouterr().err == (
        "sm-payloads: error: application/jsonlines: features['values']: value nan in record 0 cannot be "
        "written as JSON; pass --allow-nan to write NaN / Infinity / -Infinity as Python's json does\n"
    )
    assert run("convert", str(tmp_path / "n.csv"), str(out), "--allow-nan") == 0
    assert out.read_bytes() == b'{"features":[NaN,1.0]}\n{"features":[Infinity,-Infinity]}\n'
    assert run("convert", str(out), str(tmp_path / "b.csv")) == 1
    assert run("convert", str(out), str(tmp_path / "b.csv"), "--allow-nan") == 0
    assert (tmp_path / "b.csv").read_bytes() == b"nan,1.0\ninf,-inf\n"


def test_convert_csv_header_and_label_size_on_output(tmp_path: Path) -> None:
    (tmp_path / "d.rec").write_bytes(smp.encode_request(smp.from_dense(X[:2, :2], Y[:2]), REC))
    out = tmp_path / "o.csv"
    argv = ["convert", str(tmp_path / "d.rec"), str(out), "--batch-size", "1"]
    assert run(*argv, "--to", "text/csv;label_size=1;header=present") == 0
    assert out.read_bytes() == b"label,f_0,f_1\n1.0,0.1,1e-07\n0.0,-2.5,0.0\n"
    assert run(*argv, "--to", "text/csv;label_size=2") == 1


def test_convert_libsvm_streams_with_num_features(tmp_path: Path) -> None:
    (tmp_path / "d.svm").write_bytes(b"1 0:0.5\n0 1:2\n1 5:1\n")
    out = tmp_path / "o.csv"
    argv = ["convert", str(tmp_path / "d.svm"), str(out), "--batch-size", "1"]
    assert run(*argv) == 0  # read whole: the width is the largest index + 1
    assert out.read_bytes() == (
        b"1.0,0.5,0.0,0.0,0.0,0.0,0.0\n0.0,0.0,2.0,0.0,0.0,0.0,0.0\n1.0,0.0,0.0,0.0,0.0,0.0,1.0\n"
    )
    assert run(*argv, "--num-features", "7") == 0
    assert out.read_bytes() == (
        b"1.0,0.5,0.0,0.0,0.0,0.0,0.0,0.0\n0.0,0.0,2.0,0.0,0.0,0.0,0.0,0.0\n1.0,0.0,0.0,0.0,0.0,0.0,1.0,0.0\n"
    )


# --------------------------------------------------------------------------------------
# stdin / stdout, extensions
# --------------------------------------------------------------------------------------


def module(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sm_payloads", *argv], input=stdin, capture_output=True, env=env, check=False
    )


def test_stdin_to_stdout_subprocess() -> None:
    body = smp.encode_request(smp.from_dense(X, Y), REC)
    p = module("convert", "-", "-", "--from", REC, "--to", "text/csv;label_size=1")
    assert (p.returncode, p.stdout) == (0, b"")  # empty input, empty output
    assert re.fullmatch(
        rb"sm-payloads: wrote 0 records to stdout \(0 bytes in, 0 bytes out\) in \d+\.\d\d s\n", p.stderr
    )
    p = module("convert", "-", "-", "--from", REC, "--to", "text/csv;label_size=1", "-q", stdin=body)
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    assert p.stdout == b"1.0,0.1,1e-07,0.0,3.4028235e+38\n0.0,-2.5,0.0,1.6777216e+07,1e-45\n" + (
        b"0.1,0.33333334,7.0,-0.3,0.0\n"
    )
    back = module(
        "convert",
        "-",
        "-",
        "--from",
        "text/csv;label_size=1",
        "--to",
        REC,
        "--dtype",
        "float32",
        stdin=p.stdout,
    )
    assert back.returncode == 0 and back.stdout == body
    # bytes in: what the test fed on stdin; bytes out: what came out on stdout
    summary = f"sm-payloads: wrote 3 records to stdout ({len(p.stdout)} bytes in, {len(body)} bytes out) in "
    assert re.fullmatch(re.escape(summary).encode() + rb"\d+\.\d\d s\n", back.stderr), back.stderr


def test_stdin_stdout_in_process(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    body = smp.encode_request(smp.from_dense(X), "application/jsonlines")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    assert (
        run(
            "convert",
            "-",
            "-",
            "--from",
            "application/jsonlines",
            "--to",
            "application/x-npy",
            "--dtype",
            "float32",
        )
        == 0
    )
    out = capsysbinary.readouterr().out
    assert out == smp.encode_request(X, "application/x-npy")


@pytest.mark.parametrize(
    "ext", [".csv", ".CSV", ".rec", ".pbr", ".recordio", ".jsonl", ".json", ".npy", ".libsvm", ".svm"]
)
def test_types_inferred_from_extensions(tmp_path: Path, ext: str) -> None:
    source = tmp_path / "d.rec"
    source.write_bytes(smp.encode_request(smp.from_dense(X), REC))
    target = tmp_path / f"out{ext}"
    assert run("convert", str(source), str(target)) == 0
    media = cli.EXTENSIONS[ext.lower()]
    got = smp.decode_request(
        target.read_bytes(), media, **({"dtype": F32} if media.startswith("text") or "json" in media else {})
    )
    assert bits(dense(got.features["values"])) == bits(X)


# --------------------------------------------------------------------------------------
# Errors: exit codes and the exact one-line messages
# --------------------------------------------------------------------------------------


def test_bad_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.txt").write_bytes(b"1,2\n")
    assert run("convert", str(tmp_path / "d.txt"), str(tmp_path / "o.rec")) == 2
    path = str(tmp_path / "d.txt")
    assert capsys.readouterr().err == (
        f"sm-payloads: error: cannot tell the type of {path!r} (extension '.txt'); pass --from "
        "(known: .csv .rec .pbr .recordio .jsonl .json .npy .libsvm .svm)\n"
    )
    assert run("convert", str(tmp_path / "d.csv"), "-") == 2
    assert (
        capsys.readouterr().err
        == "sm-payloads: error: cannot tell the type of '-' (stdin/stdout); pass --to\n"
    )
    assert not (tmp_path / "o.rec").exists()


def test_bad_media_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_bytes(b"1,2\n")
    assert run("convert", str(tmp_path / "d.csv"), str(tmp_path / "o.rec"), "--from", "text/foo") == 2
    assert capsys.readouterr().err == (
        "sm-payloads: error: --from: 'text/foo': unsupported media type; supported: application/json, "
        "application/jsonlines, text/csv, application/x-recordio-protobuf, application/x-npy, text/libsvm, "
        "application/x-jsonlines, text/x-libsvm\n"
    )
    assert (
        run("convert", str(tmp_path / "d.csv"), str(tmp_path / "o.rec"), "--from", "text/csv;label_size=x")
        == 2
    )
    assert capsys.readouterr().err == (
        "sm-payloads: error: --from: 'text/csv; label_size=x': label_size must be a non-negative integer, "
        "got 'x'; supported: text/csv\n"
    )
    assert run("convert", str(tmp_path / "d.csv"), str(tmp_path / "o.rec"), "--num-features", "3") == 2
    assert capsys.readouterr().err == (
        "sm-payloads: error: --num-features applies to text/libsvm inputs, not text/csv\n"
    )


def test_dtype_for_binary_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.rec").write_bytes(b"")
    assert run("validate", str(tmp_path / "d.rec"), "--dtype", "float32") == 2
    assert capsys.readouterr().err == (
        "sm-payloads: error: --dtype applies to text inputs (CSV, JSON, JSON Lines, libsvm), "
        "not application/x-recordio-protobuf\n"
    )


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "nope.csv")
    assert run("convert", path, str(tmp_path / "o.rec")) == 1
    assert capsys.readouterr().err == f"sm-payloads: error: cannot open {path!r}: No such file or directory\n"
    assert run("inspect", str(tmp_path), "--type", "text/csv") == 1
    assert capsys.readouterr().err == f"sm-payloads: error: cannot open {str(tmp_path)!r}: Is a directory\n"


def test_encode_error_is_one_line_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.rec").write_bytes(smp.encode_request(smp.from_dense(X, Y), REC))
    (tmp_path / "o.npy").write_bytes(b"old")
    assert run("convert", str(tmp_path / "d.rec"), str(tmp_path / "o.npy")) == 1
    assert capsys.readouterr().err == (
        "sm-payloads: error: application/x-npy: label: an npy request has no place for a label\n"
    )
    assert (tmp_path / "o.npy").read_bytes() == b"old"  # replaced only on success
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.rec", "o.npy"]  # no temporary left
    os.chmod(tmp_path / "o.npy", 0o640)
    (tmp_path / "f.rec").write_bytes(smp.encode_request(smp.from_dense(X), REC))
    assert run("convert", str(tmp_path / "f.rec"), str(tmp_path / "o.npy")) == 0
    assert (tmp_path / "o.npy").stat().st_mode & 0o777 == 0o640  # the replaced file's mode
    assert run("convert", str(tmp_path / "f.rec"), str(tmp_path / "new.npy")) == 0
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "new.npy").stat().st_mode & 0o777 == 0o666 & ~mask


def test_decode_error_in_convert_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(b"1,2\n3,x\n")
    assert run("convert", str(src), str(tmp_path / "o.rec"), "--dtype", "float32") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sm-payloads: error: {src}: text/csv: ")
    assert err.endswith(" at line 2 (byte 6, record 1)\n") and err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run() == 2
    assert run("validate") == 2
    assert run("convert", "a.csv", "b.rec", "--batch-size", "0") == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err
    assert run("frobnicate") == 2


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------


def test_validate_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,2\n3,4\n")
    assert run("validate", str(path)) == 0
    assert capsys.readouterr() == (f"{path}: valid text/csv, 2 records\n", "")
    assert run("validate", str(path), "-q") == 0
    assert capsys.readouterr() == ("", "")


def test_validate_invalid_csv_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,2\n3,4\n5\n")
    assert run("validate", str(path), "--batch-size", "1") == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {path}: text/csv: row has 1 fields, expected 2: column 2 is missing "
        "at line 3 (byte 9, record 2)\n",
    )


def test_validate_invalid_recordio_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = smp.encode_request(smp.from_dense(X), REC)
    path = tmp_path / "d.rec"
    path.write_bytes(body[:-3])
    assert run("validate", str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sm-payloads: error: {path}: application/x-recordio-protobuf: ")
    assert "byte " in err and "record 2" in err and err.count("\n") == 1
    path.write_bytes(body + b"\x00\x00\x00\x00\x00\x00\x00\x00")
    assert run("validate", str(path)) == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: application/x-recordio-protobuf: bad magic 0x00000000, expected "
        f"0xced7230a at byte {len(body)} (record 3)\n"
    )


def test_validate_stdin_and_type(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"features": [1]}\n{"features": ]\n')))
    assert run("validate", "-", "--type", "application/jsonlines") == 1
    err = capsys.readouterr().err
    assert err.startswith("sm-payloads: error: -: application/jsonlines: ")
    assert "line 2" in err and "record 1" in err


def test_validate_subprocess_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "g.jsonl"
    good.write_bytes(b'{"features": [1, 2]}\n')
    bad = tmp_path / "b.jsonl"
    bad.write_bytes(b'{"features": [1, 2]}\n{"features": [1, 2}\n')
    assert module("validate", str(good)).returncode == 0
    p = module("validate", str(bad))
    assert p.returncode == 1 and p.stdout == b"" and p.stderr.count(b"\n") == 1
    assert b"Traceback" not in p.stderr
    assert module("validate", str(good), "--type").returncode == 2


# --------------------------------------------------------------------------------------
# inspect
# --------------------------------------------------------------------------------------


def test_inspect_exact_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.rec"
    path.write_bytes(smp.encode_request(smp.from_dense(X[:, :2], Y), REC))
    assert run("inspect", str(path), "--head", "2", "--batch-size", "2") == 0
    assert capsys.readouterr().out == (
        f"file: {path}\n"
        "type: application/x-recordio-protobuf\n"
        f"bytes: {path.stat().st_size}\n"
        "records: 3\n"
        "features['values']: dense float32 (2,)\n"
        "label['values']: dense float32 ()\n"
        "first 2 records (application/jsonlines):\n"
        '{"features":[0.1,1e-7],"label":{"values":1.0}}\n'
        '{"features":[-2.5,0.0],"label":{"values":0.0}}\n'
    )


def test_inspect_sparse_density_and_width(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.svm"
    path.write_bytes(b"1 0:0.5\n0 1:2 2:1\n1 5:1\n")
    assert run("inspect", str(path), "--head", "0", "--batch-size", "1") == 0
    assert capsys.readouterr().out == (
        f"file: {path}\n"
        "type: text/libsvm\n"
        f"bytes: {path.stat().st_size}\n"
        "records: 3\n"
        "features['values']: sparse float64 (6,), 4 stored, density 0.222222\n"
        "label['values']: dense float64 ()\n"
    )


def test_inspect_ragged_and_strings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"in0": [1, 2, 3], "uid": "a"}\n{"in0": [4]}\n')
    assert run("inspect", str(path), "--head", "1") == 0
    assert capsys.readouterr().out == (
        f"file: {path}\n"
        "type: application/jsonlines\n"
        f"bytes: {path.stat().st_size}\n"
        "records: 2\n"
        "features['in0']: ragged float64, lengths 1..3\n"
        "uid: 1 of 2 records\n"
        "first 1 record (application/jsonlines):\n"
        '{"in0":[1.0,2.0,3.0],"uid":"a"}\n'
    )


# --------------------------------------------------------------------------------------
# help and version
# --------------------------------------------------------------------------------------


def test_module_help_subprocess() -> None:
    p = module("--help")
    assert p.returncode == 0
    text = p.stdout.decode()
    assert text.startswith("usage: sm-payloads [-h] [--version] COMMAND ...")
    for word in (
        "convert",
        "inspect",
        "validate",
        "split",
        "examples:",
        "sm-payloads convert train.csv train.rec",
    ):
        assert word in text
    for command in ("convert", "inspect", "validate"):
        p = module(command, "--help")
        assert p.returncode == 0 and b"examples:" in p.stdout
        assert [".libsvm", ".svm", "text/libsvm"] in [ln.split() for ln in p.stdout.decode().splitlines()]
    p = module("split", "--help")
    assert p.returncode == 0 and b"examples:" in p.stdout and b"batch-000000<ext>" in p.stdout
    convert_help = " ".join(module("convert", "--help").stdout.decode().split())
    for sentence in (
        "a failed convert leaves no partial file",
        "OUT as - (stdout) is streamed batch by batch: a failure midway leaves the batches already written "
        "on stdout, with exit status 1 and an error naming the record.",
        "--allow-text",
        "--allow-nan",
    ):
        assert sentence in convert_help, sentence
    assert "--allow-text" in module("validate", "--help").stdout.decode()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--version") == 0
    assert capsys.readouterr().out == f"sm-payloads {smp.__version__}\n"


# --------------------------------------------------------------------------------------
# Progress: a bar on a terminal, for inputs of 4 MiB or more
# --------------------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


MiB = 1 << 20


def test_progress_bar_drawn_throttled_and_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    out = FakeTTY()
    now = [0.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: now[0])
    p = cli._Progress.for_stream(out, 8 * MiB, quiet=False)  # starts at 0.0
    now[0] = 0.1
    p.update(1 * MiB)  # under a quarter of a second since the start: not drawn
    assert out.getvalue() == ""
    now[0] = 0.25
    p.update(3 * MiB)  # 4 of 8 MiB in 0.25 s
    first = "sm-payloads: [" + "#" * 15 + "-" * 15 + "]  50% 4.0 MiB / 8.0 MiB, 16.0 MiB/s"
    assert out.getvalue() == "\r" + first
    now[0] = 0.4
    p.update(1 * MiB)  # too soon after the last draw
    assert out.getvalue() == "\r" + first
    now[0] = 1.0
    p.update(3 * MiB)  # 8 of 8 MiB in 1 s; the text is one character shorter: padded
    second = "sm-payloads: [" + "#" * 30 + "] 100% 8.0 MiB / 8.0 MiB, 8.0 MiB/s"
    assert len(second) == len(first) - 1
    assert out.getvalue() == "\r" + first + "\r" + second + " "
    p.finish()  # erased: the summary or error line that follows starts a clean line
    assert out.getvalue() == "\r" + first + "\r" + second + " " + "\r" + " " * len(second) + "\r"
    p.finish()
    assert out.getvalue().endswith(" " * len(second) + "\r")  # nothing more


def test_progress_unknown_size_shows_after_4_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    out = FakeTTY()
    now = [0.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: now[0])
    p = cli._Progress.for_stream(out, None, quiet=False)
    now[0] = 1.0
    p.update(3 * MiB)
    assert out.getvalue() == ""  # 3 MiB read: not a large input (yet)
    now[0] = 2.0
    p.update(1 * MiB)
    assert out.getvalue() == "\rsm-payloads: 4.0 MiB read, 2.0 MiB/s"


@pytest.mark.parametrize(
    ("stream", "total", "quiet"),
    [
        (io.StringIO(), 8 * MiB, False),  # not a terminal
        (FakeTTY(), 8 * MiB, True),  # -q
        (FakeTTY(), 4 * MiB - 1, False),  # a small input
    ],
)
def test_progress_nothing_drawn(
    monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, total: int, quiet: bool
) -> None:
    now = [0.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: now[0])
    p = cli._Progress.for_stream(stream, total, quiet)
    for _ in range(10):
        now[0] += 1.0
        p.update(1 * MiB)
    p.finish()
    assert stream.getvalue() == ""


def test_progress_bar_during_convert_is_erased_before_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "big.csv"
    src.write_bytes(b"1,2\n" * (5 * MiB // 4))  # 5 MiB
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(cli.time, "monotonic", lambda: float(next(ticks)))  # one second a call
    assert run("convert", str(src), str(tmp_path / "big.rec")) == 0
    text = err.getvalue()
    assert text.startswith("\rsm-payloads: [")
    *draws, erase, summary = text.split("\r")
    assert draws[0] == "" and len(draws) > 2
    assert draws[-1].startswith("sm-payloads: [" + "#" * 30 + "] 100% 5.0 MiB / 5.0 MiB, ")
    assert erase.strip() == "" and len(erase) >= len(draws[-1].rstrip())
    assert re.fullmatch(
        rf"sm-payloads: wrote 1,310,720 records to {re.escape(str(tmp_path / 'big.rec'))} "
        rf"\(5,242,880 bytes in, {(tmp_path / 'big.rec').stat().st_size:,} bytes out\) in \d+\.\d\d s\n",
        summary,
    )


# --------------------------------------------------------------------------------------
# Streaming: memory bounded by the batch, not the file
# --------------------------------------------------------------------------------------


def test_streaming_csv_to_recordio_and_back_bounded_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    big = rng.standard_normal((200_000, 8)).astype(F32)
    csv_body = smp.encode_request(big, "text/csv")
    src = tmp_path / "big.csv"
    src.write_bytes(csv_body)
    del csv_body
    size = src.stat().st_size
    assert size > 15_000_000

    tracemalloc.start()
    try:
        rc = run("convert", str(src), str(tmp_path / "big.rec"), "--dtype", "float32", "--batch-size", "1000")
        _, peak_to_rec = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        rc2 = run("convert", str(tmp_path / "big.rec"), str(tmp_path / "back.csv"), "--batch-size", "1000")
        _, peak_to_csv = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rc == 0 and rc2 == 0
    # The peak is a few MiB whatever the file size (one read block and one batch of 1000
    # records in flight), here under a third of the 17 MB file.
    assert peak_to_rec < size / 3, (peak_to_rec, size)
    assert peak_to_csv < size / 3, (peak_to_csv, size)
    rec = smp.decode_request((tmp_path / "big.rec").read_bytes(), REC)
    assert rec.features["values"].dtype == F32
    assert np.array_equal(rec.to_numpy().view(np.uint32), big.view(np.uint32))
    assert (tmp_path / "back.csv").read_bytes() == src.read_bytes() + b"\n"


def test_split_writes_the_mini_batches_batch_transform_would_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "rows.csv"
    src.write_bytes(b"1,2\n3,4\n5,6\n")
    out = tmp_path / "single"
    assert (
        run("split", str(src), "--split-type", "Line", "--strategy", "SingleRecord", "--out", str(out)) == 0
    )
    assert capsys.readouterr().out == f"{src}: 3 mini-batches in {out} (largest 4 bytes)\n"
    assert [p.read_bytes() for p in sorted(out.iterdir())] == [b"1,2\n", b"3,4\n", b"5,6\n"]
    multi = tmp_path / "multi"
    assert run("split", str(src), "--split-type", "Line", "--out", str(multi), "-q") == 0
    assert [p.name for p in multi.iterdir()] == ["batch-000000.csv"]
    assert (multi / "batch-000000.csv").read_bytes() == src.read_bytes()
    # Reusing a directory that holds mini-batches is refused; nothing is overwritten.
    assert run("split", str(src), "--split-type", "Line", "--out", str(multi)) == 1
    assert "already holds mini-batch files (batch-000000.csv, ...)" in capsys.readouterr().err


def test_split_recordio_keeps_frames_and_reports_oversized_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    body = smp.encode_request(X, "application/x-recordio-protobuf")
    src = tmp_path / "x.rec"
    src.write_bytes(body)
    out = tmp_path / "rio"
    assert run("split", str(src), "--split-type", "RecordIO", "--out", str(out), "-q") == 0
    (only,) = sorted(out.iterdir())
    assert only.read_bytes() == body
    big = tmp_path / "big.csv"
    big.write_bytes(b"1" * (2**20 + 1) + b"\n")
    assert (
        run("split", str(big), "--split-type", "Line", "--max-payload-mb", "1", "--out", str(tmp_path / "b"))
        == 1
    )
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {big}: record 0 of 1048578 bytes exceeds the limit of 1048576 bytes\n"
    )
    assert run("split", str(big), "--split-type", "TFRecord", "--out", str(tmp_path / "c")) == 2


# --------------------------------------------------------------------------------------
# The convert summary line, counts in words
# --------------------------------------------------------------------------------------


def summary_re(records: str, where: str, bytes_in: str, bytes_out: str) -> str:
    """The summary line, as a regular expression only for its seconds field."""
    head = f"sm-payloads: wrote {records} to {where} ({bytes_in} in, {bytes_out} out) in "
    return re.escape(head) + r"\d+\.\d\d s\n"


def test_convert_summary_line_and_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d.rec"
    src.write_bytes(smp.encode_request(smp.from_dense(X, Y), REC))
    out = tmp_path / "o.jsonl"
    assert run("convert", str(src), str(out)) == 0
    expected_out = smp.encode_request(smp.from_dense(X, Y), "application/jsonlines")
    assert out.read_bytes() == expected_out
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(
        summary_re("3 records", str(out), f"{len(src.read_bytes())} bytes", f"{len(expected_out)} bytes"),
        captured.err,
    ), captured.err
    assert run("convert", str(src), str(out), "-q") == 0
    assert capsys.readouterr() == ("", "")
    assert run("convert", str(src), str(out), "--quiet") == 0
    assert capsys.readouterr() == ("", "")


def test_convert_summary_counts_one_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "one.csv"
    src.write_bytes(b"7\n")
    out = tmp_path / "one.csv.jsonl"
    assert run("convert", str(src), str(out)) == 0
    assert out.read_bytes() == b'{"features":[7.0]}\n'
    assert re.fullmatch(summary_re("1 record", str(out), "2 bytes", "19 bytes"), capsys.readouterr().err)
    big = tmp_path / "big.csv"
    big.write_bytes(b"1\n" * 1500)
    assert run("convert", str(big), str(tmp_path / "big.jsonl"), "--batch-size", "700") == 0
    assert re.fullmatch(
        summary_re("1,500 records", str(tmp_path / "big.jsonl"), "3,000 bytes", "28,500 bytes"),
        capsys.readouterr().err,
    )


def test_counts_are_singular_for_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "one.csv"
    src.write_bytes(b"1,2\n")
    out = tmp_path / "one"
    assert run("split", str(src), "--split-type", "Line", "--out", str(out)) == 0
    assert capsys.readouterr().out == f"{src}: 1 mini-batch in {out} (largest 4 bytes)\n"
    two = tmp_path / "two"
    assert (
        run("split", str(src), "--split-type", "Line", "--strategy", "SingleRecord", "--out", str(two)) == 0
    )
    assert capsys.readouterr().out == f"{src}: 1 mini-batch in {two} (largest 4 bytes)\n"
    (tmp_path / "two.csv").write_bytes(b"1\n2\n")
    three = tmp_path / "three"
    assert (
        run(
            "split",
            str(tmp_path / "two.csv"),
            "--split-type",
            "Line",
            "--strategy",
            "SingleRecord",
            "--out",
            str(three),
        )
        == 0
    )
    assert capsys.readouterr().out == f"{tmp_path / 'two.csv'}: 2 mini-batches in {three} (largest 2 bytes)\n"
    assert run("validate", str(src)) == 0
    assert capsys.readouterr().out == f"{src}: valid text/csv, 1 record\n"
    j = tmp_path / "u.jsonl"
    j.write_bytes(b'{"features": [1], "uid": "a"}\n')
    assert run("inspect", str(j)) == 0
    assert capsys.readouterr().out == (
        f"file: {j}\n"
        "type: application/jsonlines\n"
        f"bytes: {j.stat().st_size}\n"
        "records: 1\n"
        "features['values']: dense float64 (1,)\n"
        "uid: 1 of 1 record\n"
        "first 1 record (application/jsonlines):\n"
        '{"features":[1.0],"uid":"a"}\n'
    )


# --------------------------------------------------------------------------------------
# Write errors: the record's position in the whole input, the --allow-nan flag
# --------------------------------------------------------------------------------------


def rows_with_nan(n: int, bad: int) -> bytes:
    """`n` CSV rows ``k,k.5`` (k = 1..n), row `bad` (1-based) ``bad,nan``."""
    return b"".join((f"{k},nan\n" if k == bad else f"{k},{k}.5\n").encode() for k in range(1, n + 1))


@pytest.mark.parametrize("batch_size", ["1", "2", "7", "22", "23", "10000"])
@pytest.mark.parametrize("target", ["o.jsonl", "o.json"])
def test_write_error_names_the_record_in_the_whole_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], batch_size: str, target: str
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(rows_with_nan(30, 23))  # line 23: record 22
    media = "application/jsonlines" if target.endswith(".jsonl") else "application/json"
    assert run("convert", str(src), str(tmp_path / target), "--batch-size", batch_size) == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {media}: features['values']: value nan in record 22 cannot be written as "
        "JSON; pass --allow-nan to write NaN / Infinity / -Infinity as Python's json does\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]  # no partial output, no temporary


def test_write_error_of_another_encoder_names_the_record_in_the_whole_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(b"1,2\n3,4\n5,6\n0,0\n7,8\n")
    assert run("convert", str(src), str(tmp_path / "o.svm"), "--batch-size", "2") == 1
    assert capsys.readouterr().err == (
        "sm-payloads: error: text/libsvm: features['values']: record 3 has no entries and the batch has no "
        "label: libsvm cannot write it (an empty line is not a record)\n"
    )


def test_read_error_names_the_allow_nan_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "n.jsonl"
    path.write_bytes(b'{"features": [1]}\n{"features": [NaN]}\n')
    assert run("validate", str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sm-payloads: error: {path}: application/jsonlines: invalid JSON: ")
    assert "(NaN and Infinity are not JSON; pass --allow-nan to accept them)" in err
    assert err.endswith(" at line 2 (byte 32, record 1)\n") and "allow_nan" not in err
    assert run("validate", str(path), "--allow-nan") == 0
    assert capsys.readouterr().out == f"{path}: valid application/jsonlines, 2 records\n"


# --------------------------------------------------------------------------------------
# A failed convert: a file output is never partial; stdout is streamed
# --------------------------------------------------------------------------------------


def test_failed_convert_leaves_no_partial_file_and_keeps_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(rows_with_nan(30, 23))
    out = tmp_path / "o.jsonl"
    out.write_bytes(b"old\n")
    assert run("convert", str(src), str(out), "--batch-size", "7") == 1  # 3 batches written first
    assert "value nan in record 22" in capsys.readouterr().err
    assert out.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "o.jsonl"]


def test_failed_convert_to_stdout_leaves_the_batches_already_written() -> None:
    body = rows_with_nan(30, 23)
    p = module(
        "convert",
        "-",
        "-",
        "--from",
        "text/csv",
        "--to",
        "application/jsonlines",
        "--batch-size",
        "7",
        stdin=body,
    )
    assert p.returncode == 1
    # Records 0..20 (three batches of 7) were streamed before record 22 failed.
    assert p.stdout == b"".join(b'{"features":[%d.0,%d.5]}\n' % (k, k) for k in range(1, 22))
    assert p.stderr == (
        b"sm-payloads: error: application/jsonlines: features['values']: value nan in record 22 cannot be "
        b"written as JSON; pass --allow-nan to write NaN / Infinity / -Infinity as Python's json does\n"
    )


# --------------------------------------------------------------------------------------
# Directories
# --------------------------------------------------------------------------------------


def test_a_directory_is_not_an_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "d.csv").write_bytes(b"1,2\n")
    for argv in (
        ["inspect", "."],
        ["validate", "."],
        ["convert", ".", "o.rec"],
        ["split", ".", "--split-type", "Line", "--out", "batches"],
        ["inspect", "sub", "--type", "text/csv"],
    ):
        assert run(*argv) == 1, argv
        name = argv[1]
        assert capsys.readouterr() == ("", f"sm-payloads: error: cannot open {name!r}: Is a directory\n"), (
            argv
        )
    assert run("convert", "d.csv", "sub") == 1
    assert capsys.readouterr() == ("", "sm-payloads: error: cannot write 'sub': Is a directory\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "sub"]  # no batches/, no o.rec
    assert list((tmp_path / "sub").iterdir()) == []


# --------------------------------------------------------------------------------------
# CSV fields that are not numbers: validate and convert name the first one
# --------------------------------------------------------------------------------------

TYPO = b"1,2\n3,4\n5,6\n7,x\n9,10\n11,12\n"  # 'x': line 4, column 2, byte 14, record 3


def test_validate_reports_a_typo_in_the_middle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(TYPO)
    assert run("validate", str(path)) == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {path}: text/csv: features['values'] became text: 'x' in column 2 is not a "
        "number at line 4 (byte 14, record 3); pass --allow-text if text is intended\n",
    )
    assert run("validate", str(path), "--allow-text") == 0
    assert capsys.readouterr() == (f"{path}: valid text/csv, 6 records, features['values'] as text\n", "")
    assert run("validate", str(path), "--dtype", "float32") == 1  # a numeric dtype: every field a number
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: column 2: 'x' is not a number (dtype float32) at line 4 "
        "(byte 14, record 3)\n"
    )


def test_typo_after_the_first_batch_names_the_batch_size_not_a_keyword(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first batch decides numbers or text; a later non-number is the reader's own error."""
    path = tmp_path / "d.csv"
    path.write_bytes(TYPO)
    for argv in (["validate", str(path)], ["convert", str(path), str(tmp_path / "o.jsonl"), "--allow-text"]):
        assert run(*argv, "--batch-size", "2") == 1
        assert capsys.readouterr().err == (
            f"sm-payloads: error: {path}: text/csv: column 2: 'x' is not a number (the first batch of "
            "--batch-size records read these columns as numbers) at line 4 (byte 14, record 3)\n"
        )


def test_validate_reports_a_header_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b"f1,f2\n1,2\n3,4\n")
    assert run("validate", str(path)) == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: features['values'] became text: 'f1' in column 1 is not a "
        "number at line 1 (byte 0, record 0); line 1 looks like a header: pass --type "
        "'text/csv;header=present' (or --allow-text if text is intended)\n"
    )
    assert run("validate", str(path), "--type", "text/csv;header=present") == 0
    assert capsys.readouterr().out == f"{path}: valid text/csv;header=present, 2 records\n"
    assert run("validate", str(path), "--type", "text/csv; header=absent; label_size=1") == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: label['values'] became text: 'f1' in column 1 is not a "
        "number at line 1 (byte 0, record 0); line 1 looks like a header: pass --type "
        "'text/csv; label_size=1;header=present' (or --allow-text if text is intended)\n"
    )


def test_validate_reports_a_label_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(b"1,2,3\n0,4,5\nO,6,7\n1,8,9\n")  # the letter O for a zero label
    assert run("validate", str(path), "--type", "text/csv;label_size=1") == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: label['values'] became text: 'O' in column 1 is not a "
        "number at line 3 (byte 12, record 2); pass --allow-text if text is intended\n"
    )
    assert run("validate", str(path), "--type", "text/csv;label_size=1", "--allow-text") == 0
    assert (
        capsys.readouterr().out
        == f"{path}: valid text/csv;label_size=1, 4 records, label['values'] as text\n"
    )
    assert run("validate", str(path)) == 1  # without label_size the same field is a feature
    assert "features['values'] became text: 'O' in column 1 " in capsys.readouterr().err


def test_text_field_position_counts_quotes_blank_lines_and_the_bom(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "q.csv"
    # A byte order mark (3 bytes), a blank line, quoted numbers (numbers) and a quoted comma.
    path.write_bytes(b'\xef\xbb\xbf1,2,3\n\n"4","5,0",6\n7,8,9\n')
    assert run("validate", str(path)) == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: features['values'] became text: '5,0' in column 2 is not a "
        "number at line 3 (byte 14, record 1); pass --allow-text if text is intended\n"
    )
    path.write_bytes(b'1,2\n3,"4\n5"\n6,7\n8,y\n')  # a field across two lines
    assert run("validate", str(path)) == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: features['values'] became text: '4\\n5' in column 2 is not "
        "a number at line 2 (byte 6, record 1); pass --allow-text if text is intended\n"
    )
    path.write_bytes(b'1,2\n3,""\n,4\n5,z\n')  # empty fields are missing numbers, not text
    assert run("validate", str(path)) == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {path}: text/csv: features['values'] became text: 'z' in column 2 is not a "
        "number at line 4 (byte 14, record 3); pass --allow-text if text is intended\n"
    )


def test_validate_text_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TYPO)))
    assert run("validate", "-", "--type", "text/csv") == 1
    assert capsys.readouterr().err == (
        "sm-payloads: error: -: text/csv: features['values'] became text: 'x' in column 2 is not a number "
        "at line 4 (byte 14, record 3); pass --allow-text if text is intended\n"
    )


def test_convert_refuses_text_for_recordio_without_allow_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(TYPO)
    assert run("convert", str(src), str(tmp_path / "o.rec")) == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {src}: text/csv: features['values'] became text: 'x' in column 2 is not a "
        f"number at line 4 (byte 14, record 3); {REC} is read as numbers: pass --allow-text to write "
        "text anyway\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


@pytest.mark.parametrize("allow", [[], ["--allow-text"]])
@pytest.mark.parametrize(("target", "media"), [("o.svm", "text/libsvm"), ("o.npy", "application/x-npy")])
def test_convert_refuses_text_for_numbers_only_outputs_even_with_allow_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, media: str, allow: list[str]
) -> None:
    """npy and libsvm hold numbers only: --allow-text cannot help, and the error names the
    field (as without it) and why, instead of the encoder's error without a position."""
    src = tmp_path / "d.csv"
    src.write_bytes(TYPO)
    assert run("convert", str(src), str(tmp_path / target), *allow) == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {src}: text/csv: features['values'] became text: 'x' in column 2 is not a "
        f"number at line 4 (byte 14, record 3); {media} holds numbers only, not text\n",
    )
    src.write_bytes(b"a,1\nb,2\n")
    assert run("convert", str(src), str(tmp_path / target), *allow) == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {src}: text/csv: features['values'] became text: 'a' in column 1 is not a "
        f"number at line 1 (byte 0, record 0); {media} holds numbers only, not text\n",
    )
    src.write_bytes(b"y,f1\n1,2\n0,3\n")  # a header line: the hint stays, without --allow-text
    argv = ["convert", str(src), str(tmp_path / target), "--from", "text/csv;label_size=1", *allow]
    assert run(*argv) == 1
    assert capsys.readouterr() == (
        "",
        f"sm-payloads: error: {src}: text/csv: label['values'] became text: 'y' in column 1 is not a number "
        "at line 1 (byte 0, record 0); line 1 looks like a header: pass --from "
        f"'text/csv;label_size=1;header=present' ({media} holds numbers only, not text)\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_allow_text_help_names_the_outputs_that_hold_text() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    (action,) = [a for a in sub.choices["convert"]._actions if a.dest == "allow_text"]
    assert action.help == (
        "CSV input: a label or feature block with a field that is not a number is text; write it to "
        "CSV, JSON, JSON Lines or RecordIO-protobuf (default: an error naming the field for "
        "RecordIO-protobuf, a warning for CSV, JSON and JSON Lines). npy and libsvm hold numbers only: "
        "text is an error naming the field, with or without --allow-text"
    )


def test_convert_text_to_recordio_with_allow_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(TYPO)
    out = tmp_path / "o.rec"
    assert run("convert", str(src), str(out), "--allow-text", "-q") == 0
    assert capsys.readouterr() == ("", "")
    got = smp.decode_request(out.read_bytes(), REC).features["values"]
    assert [list(r) for r in got] == [
        ["1", "2"],
        ["3", "4"],
        ["5", "6"],
        ["7", "x"],
        ["9", "10"],
        ["11", "12"],
    ]


def test_convert_header_line_hint_keeps_the_type_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "h.csv"
    src.write_bytes(b"y,f1\n1,2\n0,3\n")
    argv = ["convert", str(src), str(tmp_path / "o.rec"), "--from", "text/csv;label_size=1"]
    assert run(*argv) == 1
    assert capsys.readouterr().err == (
        f"sm-payloads: error: {src}: text/csv: label['values'] became text: 'y' in column 1 is not a number "
        "at line 1 (byte 0, record 0); line 1 looks like a header: pass --from "
        "'text/csv;label_size=1;header=present' (or --allow-text to write text anyway)\n"
    )
    argv[-1] = "text/csv;label_size=1;header=present"
    assert run(*argv, "-q", "--dtype", "float32") == 0
    got = smp.decode_request((tmp_path / "o.rec").read_bytes(), REC)
    assert got.label["values"].tolist() == [1.0, 0.0] and got.to_numpy().tolist() == [[2.0], [3.0]]


def test_convert_text_to_a_text_output_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(TYPO)
    out = tmp_path / "o.jsonl"
    assert run("convert", str(src), str(out)) == 0
    expected = (
        b'{"features":["1","2"]}\n{"features":["3","4"]}\n{"features":["5","6"]}\n'
        b'{"features":["7","x"]}\n{"features":["9","10"]}\n{"features":["11","12"]}\n'
    )
    assert out.read_bytes() == expected
    warning, summary = capsys.readouterr().err.splitlines(keepends=True)
    assert warning == (
        f"sm-payloads: warning: {src}: text/csv: features['values'] became text: 'x' in column 2 is not a "
        "number at line 4 (byte 14, record 3); written as text; pass --allow-text to silence this warning\n"
    )
    assert re.fullmatch(summary_re("6 records", str(out), "27 bytes", f"{len(expected)} bytes"), summary)
    assert run("convert", str(src), str(out), "--allow-text") == 0
    assert "warning" not in capsys.readouterr().err
    assert run("convert", str(src), str(out), "-q") == 0
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------------------------------
# Writes complete or fail: short writes, a full disk, a reader that went away
# --------------------------------------------------------------------------------------

OUTPUTS = ["application/json", "application/jsonlines", REC, "application/x-npy", "text/csv", "text/libsvm"]


def rows(n: int) -> bytes:
    """`n` CSV rows of 4 numbers, none zero (libsvm keeps every column)."""
    return b"".join(b"%d.25,%d.5,%d,-%d.125\n" % (k, k, k + 1, k) for k in range(1, n + 1))


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}


class Disk:
    """A binary stdout on a disk with room for `room` bytes, taking at most `most` bytes a
    write. A write that does not fit takes what fits and returns the short count without
    an error, and the next one raises ENOSPC: what Python's buffered stdout does on a full
    disk (and for a pipe whose reader went away midway, with EPIPE)."""

    def __init__(self, room: int = 1 << 40, most: int = 1 << 40) -> None:
        self.data = bytearray()
        self.room = room
        self.most = most

    def write(self, b: Any) -> int:
        free = self.room - len(self.data)
        if free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = bytes(b)[: min(free, self.most)]
        self.data += taken
        return len(taken)

    def flush(self) -> None:
        pass


class Stdout:
    """A text stdout over `buffer`, without a file descriptor."""

    def __init__(self, buffer: Disk) -> None:
        self.buffer = buffer

    def write(self, s: str) -> int:
        return self.buffer.write(s.encode())

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def reference(tmp_path: Path, src: Path, media: str) -> bytes:
    """What convert writes to a file."""
    ref = tmp_path / "ref.out"
    assert run("convert", str(src), str(ref), "--to", media, "--batch-size", "1000", "-q") == 0
    data = ref.read_bytes()
    ref.unlink()
    return data


@pytest.mark.parametrize("media", OUTPUTS)
def test_short_writes_to_stdout_are_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], media: str
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(rows(3000))
    expected = reference(tmp_path, src, media)
    disk = Disk(most=1000)
    monkeypatch.setattr(sys, "stdout", Stdout(disk))
    assert run("convert", str(src), "-", "--to", media, "--batch-size", "1000") == 0
    assert bytes(disk.data) == expected
    size_in = f"{len(src.read_bytes()):,} bytes"
    summary = summary_re("3,000 records", "stdout", size_in, f"{len(expected):,} bytes")
    assert re.fullmatch(summary, capsys.readouterr().err)


@pytest.mark.parametrize("media", OUTPUTS)
def test_a_full_disk_on_stdout_is_an_error_without_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], media: str
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(rows(3000))
    expected = reference(tmp_path, src, media)
    disk = Disk(room=5000)
    monkeypatch.setattr(sys, "stdout", Stdout(disk))
    assert run("convert", str(src), "-", "--to", media, "--batch-size", "1000") == 1
    assert capsys.readouterr().err == "sm-payloads: error: cannot write stdout: No space left on device\n"
    assert bytes(disk.data) == expected[:5000]


def test_a_stream_that_takes_nothing_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(rows(3))
    monkeypatch.setattr(sys, "stdout", Stdout(Disk(most=0)))
    assert run("convert", str(src), "-", "--to", "application/jsonlines") == 1
    assert capsys.readouterr().err == "sm-payloads: error: cannot write stdout: a write took no bytes\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("n", [2, 20_000])  # flushed at the end only; written batch by batch
def test_dev_full_as_stdout_is_one_line_and_exit_1(tmp_path: Path, n: int) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(rows(n))
    with open("/dev/full", "wb") as full:
        p = subprocess.run(
            [sys.executable, "-m", "sm_payloads", "convert", str(src), "-", "--to", "application/jsonlines"],
            stdout=full,
            stderr=subprocess.PIPE,
            env=env(),
            check=False,
        )
    assert (p.returncode, p.stderr) == (
        1,
        b"sm-payloads: error: cannot write stdout: No space left on device\n",
    )


@pytest.mark.parametrize("media", ["application/json", "application/jsonlines"])
def test_a_reader_that_goes_away_is_one_line_and_exit_1(tmp_path: Path, media: str) -> None:
    """`| head -c 10`: no summary claiming the whole output, no traceback, no noise at exit."""
    src = tmp_path / "d.csv"
    src.write_bytes(rows(20_000))  # about 1 MB out, more than a pipe holds
    p = subprocess.Popen(
        [sys.executable, "-m", "sm_payloads", "convert", str(src), "-", "--to", media],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    assert p.stdout is not None
    assert len(p.stdout.read(10)) == 10
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert (p.returncode, err) == (1, b"sm-payloads: error: cannot write stdout: Broken pipe\n")


# --------------------------------------------------------------------------------------
# Special files and symbolic links as OUT
# --------------------------------------------------------------------------------------


def test_a_fifo_is_written_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(b"1,2\n3,4\n")
    fifo = tmp_path / "o.jsonl"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader: opening it to write does not wait
    try:
        assert run("convert", str(src), str(fifo)) == 0
        got = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    assert got == b'{"features":[1.0,2.0]}\n{"features":[3.0,4.0]}\n'
    assert re.fullmatch(summary_re("2 records", str(fifo), "8 bytes", "46 bytes"), capsys.readouterr().err)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "o.jsonl"]  # no temporary file


def test_a_character_device_stays_one(tmp_path: Path) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(b"1,2\n3,4\n")
    # A copy of /dev/null first (as root): a regression would replace the copy, not /dev/null.
    copy = tmp_path / "null"
    try:
        os.mknod(copy, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        open(copy, "wb").close()  # a file system mounted nodev refuses to open it
    except OSError:
        copy.unlink(missing_ok=True)
    else:
        assert run("convert", str(src), str(copy), "--to", "text/csv", "-q") == 0
        assert stat.S_ISCHR(os.lstat(copy).st_mode)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "null"]
    assert run("convert", str(src), os.devnull, "--to", "text/csv", "-q") == 0
    assert stat.S_ISCHR(os.lstat(os.devnull).st_mode)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_a_unix_socket_is_written_in_place(tmp_path: Path) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(b"1,2\n3,4\n")
    path = tmp_path / "o.jsonl"
    if len(str(path)) > 100:
        pytest.skip("the socket path is too long")
    got: list[bytes] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        server.settimeout(10)

        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    got.append(b"".join(iter(lambda: conn.recv(1 << 16), b"")))

        reader = threading.Thread(target=serve, daemon=True)
        reader.start()
        assert run("convert", str(src), str(path), "-q") == 0
        reader.join(20)
    assert got == [b'{"features":[1.0,2.0]}\n{"features":[3.0,4.0]}\n']
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "o.jsonl"]


def test_a_symlink_stays_a_link_and_its_target_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "d.csv"
    src.write_bytes(b"1,2\n3,4\n")
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.jsonl"
    real.write_bytes(b"old\n")
    real.chmod(0o640)
    link = tmp_path / "o.jsonl"
    link.symlink_to(os.path.join("data", "real.jsonl"))
    assert run("convert", str(src), str(link)) == 0
    assert re.fullmatch(summary_re("2 records", str(link), "8 bytes", "46 bytes"), capsys.readouterr().err)
    assert os.readlink(link) == os.path.join("data", "real.jsonl")
    assert real.read_bytes() == b'{"features":[1.0,2.0]}\n{"features":[3.0,4.0]}\n'
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640
    # A failed convert through the link leaves the link and its target as they were.
    src.write_bytes(rows_with_nan(30, 23))
    assert run("convert", str(src), str(link), "-q") == 1
    assert "value nan in record 22" in capsys.readouterr().err
    assert os.readlink(link) == os.path.join("data", "real.jsonl")
    assert real.read_bytes() == b'{"features":[1.0,2.0]}\n{"features":[3.0,4.0]}\n'
    # A dangling link: its target is created.
    dangling = tmp_path / "new.jsonl"
    dangling.symlink_to(os.path.join("data", "new.jsonl"))
    assert run("convert", str(src), str(dangling), "-q", "--allow-nan") == 0
    assert dangling.is_symlink() and (tmp_path / "data" / "new.jsonl").read_bytes().startswith(b'{"features"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "data", "new.jsonl", "o.jsonl"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["new.jsonl", "real.jsonl"]


# --------------------------------------------------------------------------------------
# Signals, closed stdin / stdout
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_midway_leaves_no_temporary_file(tmp_path: Path, sig: int, code: int, word: str) -> None:
    """Batches written to the temporary file, and the input held open (a large input that is
    still being read): SIGTERM unwinds as Ctrl-C does, and the temporary file is removed."""
    if sig == signal.SIGINT and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        pytest.skip("SIGINT is ignored here (a background job), and so in the child")
    out = tmp_path / "o.jsonl"
    argv = ["convert", "-", str(out), "--from", "text/csv", "--batch-size", "100"]
    p = subprocess.Popen(
        [sys.executable, "-m", "sm_payloads", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    assert p.stdin is not None and p.stderr is not None
    try:
        p.stdin.write(rows(1000))
        p.stdin.flush()
        deadline = time.monotonic() + 60
        while not [n for n in os.listdir(tmp_path) if n.startswith(".sm-payloads-")]:
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        p.send_signal(sig)
        p.wait(timeout=60)
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.stdin.close()
        p.stderr.close()
        assert p.stdout is not None
        p.stdout.close()
    assert (p.returncode, err) == (code, f"sm-payloads: error: {word}\n".encode())
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell closes the descriptors")
@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("convert - o.jsonl --from text/csv <&-", "cannot read stdin: it is closed"),
        ("validate - --type text/csv <&-", "cannot read stdin: it is closed"),
        ("convert ok.csv - --to text/csv >&-", "cannot write stdout: it is closed"),
        ("inspect ok.csv >&-", "cannot write stdout: it is closed"),
    ],
)
def test_a_closed_stdin_or_stdout_is_one_line_and_exit_1(tmp_path: Path, command: str, message: str) -> None:
    (tmp_path / "ok.csv").write_bytes(b"1,2\n")
    p = subprocess.run(
        ["sh", "-c", f'"$0" -m sm_payloads {command}', sys.executable],
        cwd=tmp_path,
        capture_output=True,
        env=env(),
        check=False,
    )
    assert (p.returncode, p.stderr) == (1, f"sm-payloads: error: {message}\n".encode())
    assert os.listdir(tmp_path) == ["ok.csv"]
