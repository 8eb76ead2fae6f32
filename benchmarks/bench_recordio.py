"""RecordIO-protobuf benchmark: sm_payloads vs the SageMaker Python SDK vs a plain memcpy.

Run from the repository root::

    python -m benchmarks.bench_recordio            # full run (under a minute on 2 cores)
    python -m benchmarks.bench_recordio --quick    # tiny smoke pass (seconds)
    python -m benchmarks.bench_recordio --json benchmarks/results/recordio.json
    python -m benchmarks.bench_recordio --memory   # peak-RSS check of streaming iter_decode

Everything runs in one process. Each contender is timed with ``timeit`` (garbage
collector off, best of ``--repeat`` runs of an auto-ranged loop, the runs of one section
interleaved round-robin). The SDK is timed on a
slice of the payload (``--sdk-rows``, default 10,000 rows) because it is slow; its rates
are per row and per byte, so they compare directly with the full-size contenders. Ratios
are computed from rates: rows/s for "x SDK", bytes/s for "x memcpy".

See benchmarks/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp

import sm_payloads as smp
from sm_payloads.formats import _record_reader as reader
from sm_payloads.formats import recordio_protobuf as rp

from . import payloads
from ._harness import MB, Contender, fmt_rate, fmt_ratio, fmt_time, patched, time_contenders

MiB = 1 << 20


# ======================================================================================
# Contenders and timing
# ======================================================================================


@dataclasses.dataclass
class Result:
    benchmark: str
    name: str
    role: str
    rows: int
    nbytes: int
    seconds: float  # best time of one call
    number: int  # calls per timed run
    repeat: int
    note: str = ""
    x_sdk: float | None = None  # rows/s of this contender / rows/s of the SDK
    x_memcpy: float | None = None  # bytes/s of this contender / bytes/s of memcpy

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def bytes_per_s(self) -> float:
        return self.nbytes / self.seconds

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rows_per_s"] = self.rows_per_s
        d["mb_per_s"] = self.bytes_per_s / MB
        return d


def run_benchmark(title: str, contenders: list[Contender], repeat: int, quick: bool) -> list[Result]:
    """Time every contender; the runs are interleaved (round-robin) so that a slow spell
    of a noisy machine hits all contenders alike rather than one of them."""
    timed = time_contenders(contenders, repeat, quick)
    results = [
        Result(title, c.name, c.role, c.rows, c.nbytes, s, number, repeat, c.note)
        for c, (s, number) in zip(contenders, timed, strict=True)
    ]
    sdk = next(r for r in results if r.role == "sdk")
    memcpy = next(r for r in results if r.role == "memcpy")
    for r in results:
        r.x_sdk = r.rows_per_s / sdk.rows_per_s
        r.x_memcpy = r.bytes_per_s / memcpy.bytes_per_s
    return results


# ======================================================================================
# Output
# ======================================================================================


def results_table(results: list[Result]) -> str:
    head = (
        "| benchmark | contender | rows/call | time/call | MB/s | rows/s | x SDK (rows/s) | x memcpy (B/s) |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    )
    lines = list(head)
    for r in results:
        name = r.name + (" ¹" if r.role == "sdk" else "")
        lines.append(
            f"| {r.benchmark} | {name} | {r.rows:,} | {fmt_time(r.seconds)} | "
            f"{r.bytes_per_s / MB:,.0f} | {fmt_rate(r.rows_per_s)} | "
            f"{fmt_ratio(r.x_sdk)} | {fmt_ratio(r.x_memcpy)} |"
        )
    return "\n".join(lines)


@dataclasses.dataclass
class Target:
    """A bar from the performance issue, or (``want=None``) a context row without a bar.

    ``got`` is rows/s of `contender` over rows/s of `versus` (the SDK) or bytes/s over
    bytes/s (the memcpy baselines).
    """

    what: str
    benchmark: str
    contender: str
    versus: str  # "sdk", "memcpy" (the roles) or the name of an extra contender
    want: float | None
    got: float = float("nan")

    @property
    def passed(self) -> bool | None:
        return None if self.want is None else self.got >= self.want

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["passed"] = self.passed
        return d


_OURS_DEC = "sm_payloads decode(copy=True)"
_NUMPY_COPY = "memcpy into a fresh numpy array"
_REUSED = "memcpy into a reused buffer"
TARGETS = [
    Target("dense encode vs SDK (rows/s)", "dense encode", "sm_payloads encode", "sdk", 100),
    Target("dense encode vs memcpy (B/s)", "dense encode", "sm_payloads encode", "memcpy", 0.5),
    Target("dense decode vs SDK (rows/s)", "dense decode", _OURS_DEC, "sdk", 100),
    Target("dense decode vs memcpy (B/s)", "dense decode", _OURS_DEC, "memcpy", 0.5),
    Target("sparse encode vs SDK (rows/s)", "sparse encode", "sm_payloads encode", "sdk", 30),
    Target("sparse decode vs SDK (rows/s)", "sparse decode", _OURS_DEC, "sdk", 20),
    Target("dense encode vs fresh numpy copy (B/s)", "dense encode", "sm_payloads encode", _NUMPY_COPY, None),
    Target("dense encode vs reused-buffer copy (B/s)", "dense encode", "sm_payloads encode", _REUSED, None),
    Target("dense decode vs fresh numpy copy (B/s)", "dense decode", _OURS_DEC, _NUMPY_COPY, None),
    Target("dense decode vs reused-buffer copy (B/s)", "dense decode", _OURS_DEC, _REUSED, None),
]


def check_targets(results: list[Result]) -> list[Target]:
    out = []
    for t in TARGETS:
        section = [r for r in results if r.benchmark == t.benchmark]
        ours = next(r for r in section if r.name == t.contender)
        got: float | None
        if t.versus == "sdk":
            got = ours.x_sdk
        elif t.versus == "memcpy":
            got = ours.x_memcpy
        else:
            base = next(r for r in section if r.name == t.versus)
            got = ours.bytes_per_s / base.bytes_per_s
        assert got is not None
        out.append(dataclasses.replace(t, got=got))
    return out


def targets_table(targets: list[Target]) -> str:
    lines = ["| target | measured | wanted | result |", "|---|--:|--:|---|"]
    for t in targets:
        if t.want is None:
            want, verdict = "(context)", "-"
        else:
            want, verdict = f">= {t.want:g}x", "PASS" if t.passed else "FAIL"
        lines.append(f"| {t.what} | {fmt_ratio(t.got)} | {want} | {verdict} |")
    return "\n".join(lines)


def _cpu_name() -> str:
    name = platform.processor()
    if name and name not in ("x86_64", "aarch64", "arm64", "i386"):
        return name
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.machine()


def _git_commit() -> str:
    """HEAD of the checkout, with "+dirty" when sm_payloads/ has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sm_payloads"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def environment() -> dict[str, Any]:
    import google.protobuf
    from google.protobuf.internal import api_implementation

    env: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "protobuf": f"{google.protobuf.__version__} ({api_implementation.Type()})",
        "sagemaker": _sdk_version(),
        "sm_payloads": f"{smp.__version__} (commit {_git_commit()})",
        "platform": platform.platform(),
        "processor": platform.processor() or "(empty)",
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "c_extension": "loaded" if reader.crecordio is not None else "not loaded",
    }
    if hasattr(os, "sched_getaffinity"):
        env["usable_cores"] = len(os.sched_getaffinity(0))
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            env["transparent_hugepage"] = f.read().strip()
    except OSError:
        pass
    return env


def print_header(env: dict[str, Any]) -> None:
    print("sm_payloads RecordIO-protobuf benchmark")
    for k, v in env.items():
        print(f"  {k:<21} {v}")
    print()


# ======================================================================================
# The SageMaker SDK (imported lazily: it is slow to import and chatty)
# ======================================================================================


def _sdk() -> Any:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    import sagemaker.amazon.common as common

    return common


def _sdk_version() -> str:
    _sdk()
    import sagemaker

    return sagemaker.__version__


def sdk_write_dense(X: np.ndarray, y: np.ndarray) -> bytes:
    f = io.BytesIO()
    _sdk().write_numpy_to_dense_tensor(f, X, y)
    return f.getvalue()


def sdk_write_sparse(X: sp.csr_matrix, y: np.ndarray) -> bytes:
    f = io.BytesIO()
    _sdk().write_spmatrix_to_sparse_tensor(f, X, y)
    return f.getvalue()


def sdk_read_dense(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """What a user of the SDK writes to get a matrix and labels back."""
    records = _sdk().read_records(io.BytesIO(data))
    X = np.array([r.features["values"].float32_tensor.values for r in records], dtype=np.float32)
    y = np.array([r.label["values"].float32_tensor.values[0] for r in records], dtype=np.float32)
    return X, y


def sdk_read_sparse(data: bytes) -> tuple[sp.csr_matrix, np.ndarray]:
    """The obvious CSR build: concatenate every record's keys and values, count per row."""
    records = _sdk().read_records(io.BytesIO(data))
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    labels = []
    n_cols = 0
    for r in records:
        t = r.features["values"].float32_tensor
        indices.extend(t.keys)
        values.extend(t.values)
        indptr.append(len(indices))
        n_cols = t.shape[0]
        labels.append(r.label["values"].float32_tensor.values[0])
    X = sp.csr_matrix(
        (np.array(values, dtype=np.float32), np.array(indices, dtype=np.int64), np.array(indptr)),
        shape=(len(records), n_cols),
    )
    return X, np.array(labels, dtype=np.float32)


# ======================================================================================
# sm_payloads and the baseline
# ======================================================================================


def ours_read_dense(data: bytes, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    batch = rp.decode(data, copy=copy)
    return batch.to_numpy(), batch.label["values"]


def ours_read_sparse(data: bytes, copy: bool = True) -> tuple[Any, np.ndarray]:
    batch = rp.decode(data, copy=copy)
    return batch.to_scipy(), batch.label["values"]


def memcpy(data: bytes) -> bytearray:
    """The baseline: one copy of the payload into a freshly allocated buffer."""
    return bytearray(data)


def memcpy_numpy(data: bytes) -> Callable[[], Any]:
    """Context only: a fresh numpy array each call (numpy asks Linux for huge pages)."""
    src = np.frombuffer(data, dtype=np.uint8)
    return lambda: src.copy()


def memcpy_reused(data: bytes) -> Callable[[], Any]:
    """Context only: the same copy into a buffer allocated (and faulted in) once."""
    src = np.frombuffer(data, dtype=np.uint8)
    dst = np.ones_like(src)
    return lambda: np.copyto(dst, src)


# ======================================================================================
# Correctness (once, before any timing)
# ======================================================================================


class CheckFailed(Exception):
    pass


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)


def _same_csr(a: Any, b: Any) -> bool:
    a, b = sp.csr_array(a), sp.csr_array(b)
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
        and a.data.dtype == np.float32
    )


def check_dense(X: np.ndarray, y: np.ndarray, data: bytes, sdk_rows: int, sdk_data: bytes) -> dict[str, Any]:
    for copy in (True, False):
        Xd, yd = ours_read_dense(data, copy=copy)
        _require(Xd.dtype == np.float32 and np.array_equal(Xd, X), f"dense decode(copy={copy}) features")
        _require(yd.dtype == np.float32 and np.array_equal(yd, y), f"dense decode(copy={copy}) labels")
    ours_sdk = rp.encode(smp.from_dense(X[:sdk_rows], y[:sdk_rows]), sdk_compatible=True)
    _require(ours_sdk == sdk_data, "dense encode(sdk_compatible=True) != SDK bytes on the slice")
    Xs, ys = sdk_read_dense(sdk_data)
    _require(np.array_equal(Xs, X[:sdk_rows]) and np.array_equal(ys, y[:sdk_rows]), "SDK dense read-back")
    full_compat = rp.encode(smp.from_dense(X, y), sdk_compatible=True)
    return {"dense_default_equals_sdk_compatible": full_compat == data}


def check_sparse(
    X: sp.csr_matrix, y: np.ndarray, data: bytes, sdk_rows: int, sdk_data: bytes
) -> dict[str, Any]:
    for copy in (True, False):
        Xd, yd = ours_read_sparse(data, copy=copy)
        _require(_same_csr(Xd, X), f"sparse decode(copy={copy}) features")
        _require(yd.dtype == np.float32 and np.array_equal(yd, y), f"sparse decode(copy={copy}) labels")
    ours_sdk = rp.encode(smp.from_sparse(X[:sdk_rows], y[:sdk_rows]), sdk_compatible=True)
    _require(ours_sdk == sdk_data, "sparse encode(sdk_compatible=True) != SDK bytes on the slice")
    Xs, ys = sdk_read_sparse(sdk_data)
    _require(_same_csr(Xs, X[:sdk_rows]) and np.array_equal(ys, y[:sdk_rows]), "SDK sparse read-back")
    full_compat = rp.encode(smp.from_sparse(X, y), sdk_compatible=True)
    return {"sparse_default_equals_sdk_compatible": full_compat == data}


# ======================================================================================
# The speed benchmark
# ======================================================================================


@dataclasses.dataclass
class Sizes:
    dense_rows: int
    dense_cols: int
    sparse_rows: int
    sparse_cols: int
    density: float
    sdk_rows: int
    repeat: int


def _sdk_note(sizes: Sizes) -> str:
    return f"SDK timed on the first {sizes.sdk_rows:,} rows; rates are per row/byte"


def dense_benchmarks(sizes: Sizes, quick: bool) -> tuple[list[Result], dict[str, Any]]:
    X, y = payloads.dense(sizes.dense_rows, sizes.dense_cols)
    n = len(X)
    ns = min(sizes.sdk_rows, n)
    Xs, ys = X[:ns].copy(), y[:ns].copy()
    data = rp.encode(smp.from_dense(X, y))
    sdk_data = sdk_write_dense(Xs, ys)
    checks = check_dense(X, y, data, ns, sdk_data)
    checks["dense_payload_bytes"] = len(data)
    note = _sdk_note(sizes)
    size = len(data)
    encode = [
        Contender("sm_payloads encode", lambda: rp.encode(smp.from_dense(X, y)), n, size, "ours"),
        Contender(
            "SageMaker SDK write_numpy_to_dense_tensor",
            lambda: sdk_write_dense(Xs, ys),
            ns,
            len(sdk_data),
            "sdk",
            note,
        ),
        Contender("memcpy (fresh bytearray)", lambda: memcpy(data), n, size, "memcpy"),
        Contender("memcpy into a fresh numpy array", memcpy_numpy(data), n, size, "extra"),
        Contender("memcpy into a reused buffer", memcpy_reused(data), n, size, "extra"),
    ]
    decode = [
        Contender("sm_payloads decode(copy=True)", lambda: ours_read_dense(data), n, size, "ours"),
        Contender(
            "sm_payloads decode() zero-copy", lambda: ours_read_dense(data, copy=False), n, size, "extra"
        ),
        Contender(
            "SageMaker SDK read_records + np.array",
            lambda: sdk_read_dense(sdk_data),
            ns,
            len(sdk_data),
            "sdk",
            note,
        ),
        Contender("memcpy (fresh bytearray)", lambda: memcpy(data), n, size, "memcpy"),
        Contender("memcpy into a fresh numpy array", memcpy_numpy(data), n, size, "extra"),
        Contender("memcpy into a reused buffer", memcpy_reused(data), n, size, "extra"),
    ]
    results = run_benchmark("dense encode", encode, sizes.repeat, quick)
    results += run_benchmark("dense decode", decode, sizes.repeat, quick)
    return results, checks


def sparse_benchmarks(sizes: Sizes, quick: bool) -> tuple[list[Result], dict[str, Any]]:
    X, y = payloads.sparse(sizes.sparse_rows, sizes.sparse_cols, sizes.density)
    n = X.shape[0]
    ns = min(sizes.sdk_rows, n)
    Xs, ys = X[:ns], y[:ns].copy()
    data = rp.encode(smp.from_sparse(X, y))
    sdk_data = sdk_write_sparse(Xs, ys)
    checks = check_sparse(X, y, data, ns, sdk_data)
    checks["sparse_payload_bytes"] = len(data)
    checks["sparse_nnz"] = int(X.nnz)
    note = _sdk_note(sizes)
    size = len(data)
    encode = [
        Contender("sm_payloads encode", lambda: rp.encode(smp.from_sparse(X, y)), n, size, "ours"),
        Contender(
            "SageMaker SDK write_spmatrix_to_sparse_tensor",
            lambda: sdk_write_sparse(Xs, ys),
            ns,
            len(sdk_data),
            "sdk",
            note,
        ),
        Contender("memcpy (fresh bytearray)", lambda: memcpy(data), n, size, "memcpy"),
    ]
    decode = [
        Contender("sm_payloads decode(copy=True)", lambda: ours_read_sparse(data), n, size, "ours"),
        Contender(
            "sm_payloads decode() zero-copy", lambda: ours_read_sparse(data, copy=False), n, size, "extra"
        ),
        Contender(
            "SageMaker SDK read_records + csr_matrix",
            lambda: sdk_read_sparse(sdk_data),
            ns,
            len(sdk_data),
            "sdk",
            note,
        ),
        Contender("memcpy (fresh bytearray)", lambda: memcpy(data), n, size, "memcpy"),
        Contender(
            "sm_payloads decode(copy=True), no C extension",
            patched(reader, lambda: ours_read_sparse(data), crecordio=None),
            n,
            size,
            "extra",
        ),
    ]
    results = run_benchmark("sparse encode", encode, sizes.repeat, quick)
    results += run_benchmark("sparse decode", decode, sizes.repeat, quick)
    return results, checks


def speed(sizes: Sizes, quick: bool) -> dict[str, Any]:
    """Dense, then sparse (each section frees its data before the next one starts)."""
    results, checks = dense_benchmarks(sizes, quick)
    more, sparse_checks = sparse_benchmarks(sizes, quick)
    checks.update(sparse_checks)
    results += more
    return {"results": results, "targets": check_targets(results), "checks": checks}


# ======================================================================================
# The memory check
# ======================================================================================


def _proc_status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in KiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def memory_child(batch_size: int) -> None:
    """Runs in a fresh interpreter: read a path on stdin, stream-decode it, print JSON.

    The parent starts this process before it generates the file, while it is still small:
    on Linux a child's ru_maxrss starts at its parent's peak RSS (kept across fork and exec), so a
    child started by a large parent would report the parent's size as its own peak.
    """
    start_maxrss = _maxrss_kib()  # the floor inherited from the parent
    path = sys.stdin.readline().strip()
    if not path:
        return
    baseline_kib = _proc_status_kib("VmRSS") or _maxrss_kib()
    baseline_maxrss = _maxrss_kib()
    rows = 0
    batches = 0
    largest = 0
    col0 = 0.0
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        for batch in rp.iter_decode(f, batch_size=batch_size):
            X = batch.to_numpy()
            col0 += float(X[:, 0].sum(dtype=np.float64))
            rows += len(batch)
            batches += 1
            largest = max(largest, len(batch))
            del X, batch  # keep nothing of a batch while the next one is read
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "rows": rows,
                "batches": batches,
                "largest_batch": largest,
                "col0_sum": col0,
                "seconds": seconds,
                "inherited_maxrss_kib": start_maxrss,
                "baseline_rss_kib": baseline_kib,
                "baseline_maxrss_kib": baseline_maxrss,
                "peak_maxrss_kib": _maxrss_kib(),
                "peak_hwm_kib": _proc_status_kib("VmHWM"),
            }
        ),
        flush=True,
    )


def start_memory_child(batch_size: int) -> subprocess.Popen[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_recordio",
        "--memory-child",
        "--batch-size",
        str(batch_size),
    ]
    return subprocess.Popen(
        cmd, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def memory(
    child: subprocess.Popen[str], target_mb: int, batch_size: int, cols: int, chunk_rows: int
) -> dict[str, Any]:
    # One dense frame: what encode writes per row (measured, not assumed).
    probe = payloads.dense(2, cols, seed=1)
    frame_bytes = len(rp.encode(smp.from_dense(probe.X, probe.y))) // 2
    rows = max(1, target_mb * MiB // frame_bytes)
    tmp = tempfile.mkdtemp(prefix="smp-bench-")
    path = os.path.join(tmp, "dense.recordio")
    try:
        t0 = time.perf_counter()
        col0 = 0.0
        with open(path, "wb") as f:
            for chunk in payloads.dense_chunks(rows, cols, chunk_rows=chunk_rows):
                col0 += float(chunk.X[:, 0].sum(dtype=np.float64))
                f.write(rp.encode(smp.from_dense(chunk.X, chunk.y)))
        size = os.path.getsize(path)
        write_s = time.perf_counter() - t0
        print(f"wrote {size / MiB:,.0f} MiB ({rows:,} rows of {cols} float32 + label) in {write_s:.1f} s")
        stdout, stderr = child.communicate(path + "\n")
        if child.returncode != 0:
            sys.stderr.write(stderr)
            raise SystemExit(f"memory child failed with exit code {child.returncode}")
        got = json.loads(stdout.strip().splitlines()[-1])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.rmdir(tmp)
    if got["rows"] != rows or abs(got["col0_sum"] - col0) > 1e-6 * max(1.0, abs(col0)):
        raise SystemExit(
            f"CORRECTNESS CHECK FAILED: streamed {got['rows']} rows, column-0 sum {got['col0_sum']} "
            f"(want {rows}, {col0})"
        )
    batch_bytes = min(batch_size, rows) * frame_bytes
    bound = 2 * batch_bytes + 50 * MB
    KiB = 1024
    # The peak is the kernel's high-water mark of this process image (VmHWM) where /proc
    # has it; ru_maxrss is reported beside it and agrees unless it only shows the floor
    # inherited from the parent.
    peak = (got["peak_hwm_kib"] or got["peak_maxrss_kib"]) * KiB
    growth = peak - got["baseline_rss_kib"] * KiB
    return {
        "file_bytes": size,
        "rows": rows,
        "frame_bytes": frame_bytes,
        "batch_size": batch_size,
        "batch_bytes": batch_bytes,
        "baseline_rss_bytes": got["baseline_rss_kib"] * KiB,
        "inherited_maxrss_bytes": got["inherited_maxrss_kib"] * KiB,
        "peak_maxrss_bytes": got["peak_maxrss_kib"] * KiB,
        "peak_hwm_bytes": (got["peak_hwm_kib"] or 0) * KiB,
        "peak_bytes": peak,
        "growth_bytes": growth,
        "bound_bytes": bound,
        "passed": growth <= bound,
        "decode_seconds": got["seconds"],
        "rows_per_s": rows / got["seconds"],
        "mb_per_s": size / MB / got["seconds"],
    }


def memory_table(m: dict[str, Any]) -> str:
    def mb(x: float) -> str:
        return f"{x / MB:,.1f} MB"

    rows = [
        ("file", f"{mb(m['file_bytes'])} ({m['rows']:,} rows x {m['frame_bytes']} B)"),
        ("batch_size", f"{m['batch_size']:,} rows = {mb(m['batch_bytes'])} of frames"),
        ("baseline RSS (VmRSS before decoding)", mb(m["baseline_rss_bytes"])),
        (
            "peak RSS, resource.getrusage ru_maxrss",
            f"{mb(m['peak_maxrss_bytes'])} "
            f"(floor inherited from the parent: {mb(m['inherited_maxrss_bytes'])})",
        ),
        ("peak RSS, /proc VmHWM", mb(m["peak_hwm_bytes"]) if m["peak_hwm_bytes"] else "n/a"),
        ("peak - baseline", mb(m["growth_bytes"])),
        ("bound: 2 x batch + 50 MB", mb(m["bound_bytes"])),
        ("result", "PASS" if m["passed"] else "FAIL"),
        (
            "stream decode speed",
            f"{m['decode_seconds']:.1f} s, {fmt_rate(m['rows_per_s'])}rows/s, {m['mb_per_s']:,.0f} MB/s",
        ),
    ]
    lines = ["| memory check (iter_decode over a file) | |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


# ======================================================================================
# Main
# ======================================================================================


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_recordio", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="tiny sizes, one call per run: a smoke test, not a measurement"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed runs per contender, best is kept (default 7; 2 with --quick)",
    )
    ap.add_argument(
        "--sdk-rows",
        type=int,
        default=None,
        help="rows of the slice the SDK is timed on (default 10,000; 500 with --quick)",
    )
    ap.add_argument(
        "--memory", action="store_true", help="run the peak-RSS check of streaming iter_decode instead"
    )
    ap.add_argument(
        "--memory-mb",
        type=int,
        default=None,
        help="size of the --memory file in MiB (default 1024; 64 with --quick)",
    )
    ap.add_argument(
        "--batch-size",
        type=int,
        default=100_000,
        help="iter_decode batch size for --memory (default 100,000)",
    )
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_child:
        memory_child(args.batch_size)
        return 0
    # Start the measuring child now, while this process is small (see memory_child).
    child = start_memory_child(args.batch_size) if args.memory else None

    env = environment()
    print_header(env)
    out: dict[str, Any] = {"environment": env, "quick": args.quick}

    if args.memory:
        target_mb = args.memory_mb or (64 if args.quick else 1024)
        assert child is not None
        m = memory(child, target_mb, args.batch_size, payloads.DENSE_COLS, chunk_rows=100_000)
        print(memory_table(m))
        out["memory"] = m
        status = 0
    else:
        if args.quick:
            sizes = Sizes(
                2_000, payloads.DENSE_COLS, 2_000, payloads.SPARSE_COLS, payloads.SPARSE_DENSITY, 500, 2
            )
        else:
            sizes = Sizes(
                payloads.DENSE_ROWS,
                payloads.DENSE_COLS,
                payloads.SPARSE_ROWS,
                payloads.SPARSE_COLS,
                payloads.SPARSE_DENSITY,
                10_000,
                7,
            )
        if args.repeat is not None:
            sizes.repeat = args.repeat
        if args.sdk_rows is not None:
            sizes.sdk_rows = args.sdk_rows
        print(
            f"dense: {sizes.dense_rows:,} x {sizes.dense_cols} float32 + labels; "
            f"sparse: {sizes.sparse_rows:,} x {sizes.sparse_cols:,} CSR float32 at density "
            f"{sizes.density:g} + labels"
        )
        print(
            f"best of {sizes.repeat} timeit runs (gc off)"
            f"{'' if args.quick else ', each auto-ranged to >= 0.2 s'}; "
            f"¹ SDK timed on the first {sizes.sdk_rows:,} rows, its rates are per row/byte\n"
        )
        t0 = time.perf_counter()
        try:
            r = speed(sizes, args.quick)
        except CheckFailed as e:
            print(f"\n*** CORRECTNESS CHECK FAILED: {e} ***\nNothing was timed.", file=sys.stderr)
            return 2
        if args.quick:
            print("--quick: a smoke test of the script; these numbers are NOT measurements\n")
        print(results_table(r["results"]))
        print()
        print(targets_table(r["targets"]))
        print()
        c = r["checks"]
        print(
            "checks passed before timing: decoded arrays equal the inputs; "
            "encode(sdk_compatible=True) == SDK bytes on the slice; "
            f"default encode == sdk_compatible encode on the full payloads: "
            f"dense {c['dense_default_equals_sdk_compatible']}, "
            f"sparse {c['sparse_default_equals_sdk_compatible']}"
        )
        print(
            f"payloads: dense {c['dense_payload_bytes'] / MB:,.1f} MB, "
            f"sparse {c['sparse_payload_bytes'] / MB:,.1f} MB ({c['sparse_nnz']:,} non-zeros); "
            f"run took {time.perf_counter() - t0:.0f} s"
        )
        out["sizes"] = dataclasses.asdict(sizes)
        out["results"] = [x.as_dict() for x in r["results"]]
        out["targets"] = [t.as_dict() for t in r["targets"]]
        out["checks"] = c
        status = 0

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
