"""The ``sm-payloads`` command line: every convert pair with exact values, streams, errors,
exit codes, inspect's exact text, and bounded memory when streaming."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
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
    assert capsys.readouterr().err.startswith(
        "sm-payloads: error: application/jsonlines: features['values']: value nan in record 0 cannot be "
        "written as JSON"
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
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")  # empty input, empty output
    p = module("convert", "-", "-", "--from", REC, "--to", "text/csv;label_size=1", stdin=body)
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
        "first 1 records (application/jsonlines):\n"
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
    for word in ("convert", "inspect", "validate", "examples:", "sm-payloads convert train.csv train.rec"):
        assert word in text
    for command in ("convert", "inspect", "validate"):
        p = module(command, "--help")
        assert p.returncode == 0 and b"examples:" in p.stdout
        assert [".libsvm", ".svm", "text/libsvm"] in [ln.split() for ln in p.stdout.decode().splitlines()]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--version") == 0
    assert capsys.readouterr().out == f"sm-payloads {smp.__version__}\n"


# --------------------------------------------------------------------------------------
# Progress: only on a terminal, only after a second
# --------------------------------------------------------------------------------------


def test_progress_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    now = [0.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: now[0])
    p = cli._Progress(out, 4 << 20, enabled=True)  # starts at 0.0
    now[0] = 0.5
    p.update(1 << 20)  # too early
    assert out.getvalue() == ""
    now[0] = 2.0
    p.update(1 << 20)  # drawn
    now[0] = 2.1
    p.update(1 << 20)  # too soon after the last draw
    assert out.getvalue() == "\r" + "sm-payloads: 2.0 MiB / 4.0 MiB (50%), 1.0 MiB/s".ljust(60)
    now[0] = 3.0
    p.update(1 << 20)
    p.finish()
    assert out.getvalue().endswith("sm-payloads: 4.0 MiB / 4.0 MiB (100%), 1.3 MiB/s".ljust(60) + "\n")
    quiet = io.StringIO()
    q = cli._Progress(quiet, None, enabled=False)
    q.update(10)
    q.finish()
    assert quiet.getvalue() == ""


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
