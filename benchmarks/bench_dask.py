"""CSV -> RecordIO-protobuf on Dask (1 and 2 workers) vs the single-process command line.

    python -m benchmarks.bench_dask [--size-mb 2048] [--dir DIR] [--keep] [--quick] [--json FILE]

Writes a CSV of about `--size-mb` MiB (label first, then 100 float32 features; the same
generator as bench_convert, never holding the file), then in one run:

* ``sm-payloads convert in.csv out.rec`` in a fresh process (peak RSS: its ``VmHWM``);
* the hand-rolled alternative the issue names: ``dask.dataframe.read_csv`` (pandas' parser)
  and the SageMaker SDK's ``write_numpy_to_dense_tensor`` per partition, 2 workers, on the
  first `--sdk-blocks` partitions (it writes one row at a time; its rates compare directly);
* ``smp.dask.read_csv(in.csv, blocksize=...)`` -> ``smp.dask.to_recordio(X, dir, label=y)``
  on a ``distributed.LocalCluster`` of 1 and then 2 single-threaded worker processes.
  Each worker's RSS is sampled every 50 ms from outside (psutil) and its high-water mark
  (``VmHWM``) is read at the end. Each worker count runs twice: with distributed's default
  worker environment (``MALLOC_TRIM_THRESHOLD_=65536``, which also pins glibc's mmap
  threshold at 128 KiB, so every large numpy temporary is a fresh mmap that faults its
  pages in) and without that variable. The cluster starts, and its workers import
  sm_payloads, before the clock does; the command line's time includes its interpreter start.

The command line and the runs without the variable alternate `--repeat` times (default 2;
the best time and the highest peaks are kept), the others run once; the runs in
distributed's default environment convert the first `--slow-blocks` partitions (default
8, 512 MiB), as the SDK alternative does: their rates compare directly. Throughput is CSV
bytes (and rows) per second of wall time; "vs CLI" compares rows/s. The
shards, concatenated in name order, must equal the command line's output byte for byte
(both encode the same float32 records; the SDK's shards must equal its first bytes).
Shards are fsync'ed before their rename (smp.dask's atomic write); the command line does
not sync. The machine's load average is printed: other work on the same cores slows every
contender.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from typing import Any

import numpy as np
import psutil

import sm_payloads.dask as smd
from sm_payloads.recordio import frame_table

from .bench_convert import COLS, CT_CSV, run_cli, write_csv

MiB = 2**20


class RssSampler:
    """Peak RSS of some processes, sampled from a thread."""

    def __init__(self, pids: list[int], every: float = 0.05) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.peak = [0] * len(pids)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, p in enumerate(self.procs):
                with contextlib.suppress(psutil.Error):
                    self.peak[i] = max(self.peak[i], p.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def vm_hwm() -> int:
    """This process's peak RSS (Linux ``VmHWM``). Not ``ru_maxrss``: a child started with
    fork/vfork + exec inherits its parent's high-water mark in ``ru_maxrss``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def same_bytes(a: str, paths: list[str], prefix: bool = False) -> bool:
    """File `a` equals the concatenation of `paths` (or starts with it, with `prefix`),
    compared in 16 MiB pieces."""
    with open(a, "rb") as fa:
        for p in paths:
            with open(p, "rb") as fp:
                while True:
                    chunk = fp.read(16 * MiB)
                    if not chunk:
                        break
                    if fa.read(len(chunk)) != chunk:
                        return False
        return prefix or fa.read(1) == b""


def warm_up() -> None:
    """Import what a worker needs before the clock starts."""
    importlib.import_module("sm_payloads.dask")


def worker_environ(trim: bool) -> dict[str, Any]:
    """distributed's environment for new workers, with or without its MALLOC_TRIM_THRESHOLD_."""
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if not trim:
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return env


def records_in(paths: list[str]) -> int:
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            n += frame_table(memoryview(f.read()), "application/x-recordio-protobuf")[0].size
    return n


def run_dask(
    src: str, out: str, workers: int, blocksize: int, trim: bool, blocks: int | None = None
) -> dict[str, Any]:
    """`blocks`: convert only the first partitions (the records then counted from the shards)."""
    import dask
    from distributed import Client, LocalCluster

    if not trim:
        # A nanny copies its pre-spawn environment into this process's os.environ (and
        # workers inherit os.environ first): an earlier cluster's setting would stay.
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)

    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ(trim)}),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(warm_up)
        pids = list(client.run(os.getpid).values())
        idle = [psutil.Process(p).memory_info().rss for p in pids]
        with RssSampler(pids) as sampler:
            t = time.perf_counter()
            X, y = smd.read_csv(src, with_label=True, dtype=np.float32, blocksize=blocksize)
            if blocks is not None:
                X, y = X.blocks[:blocks], y.blocks[:blocks]
            urls = smd.to_recordio(X, out, label=y)
            seconds = time.perf_counter() - t
        hwm = list(client.run(vm_hwm).values())
    return {
        "workers": workers,
        "seconds": seconds,
        "partitions": X.numblocks[0],
        "shards": urls,
        "rows_done": None if blocks is None else records_in(urls),
        "idle_rss_bytes": idle,
        "peak_rss_sampled_bytes": sampler.peak,
        "peak_rss_hwm_bytes": hwm,
    }


def sdk_write(pdf: Any, path: str) -> int:
    """The hand-rolled alternative: one partition through the SDK's own writer."""
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    arr = pdf.to_numpy(np.float32)
    with open(path, "wb") as f:
        write_numpy_to_dense_tensor(f, arr[:, 1:], arr[:, 0])
    return len(arr)


def warm_up_sdk() -> None:
    importlib.import_module("sagemaker.amazon.common")
    importlib.import_module("pandas")


def run_sdk(src: str, out: str, workers: int, blocksize: int, blocks: int) -> dict[str, Any]:
    """dask.dataframe.read_csv (pandas' C parser) + the SDK's write_numpy_to_dense_tensor per
    partition, on the first `blocks` partitions only (the SDK writes one row at a time)."""
    import dask
    import dask.dataframe as dd
    from dask.delayed import delayed
    from distributed import Client, LocalCluster

    os.makedirs(out, exist_ok=True)
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(warm_up_sdk)
        pids = list(client.run(os.getpid).values())
        idle = [psutil.Process(p).memory_info().rss for p in pids]
        with RssSampler(pids) as sampler:
            t = time.perf_counter()
            ddf = dd.read_csv(src, header=None, blocksize=blocksize, dtype=np.float32)
            paths = [os.path.join(out, f"part-{i:05d}.rec") for i in range(blocks)]
            write = delayed(sdk_write, pure=False)
            counts = dask.compute(
                *[write(p, q) for p, q in zip(ddf.to_delayed()[:blocks], paths, strict=False)]
            )
            seconds = time.perf_counter() - t
        hwm = list(client.run(vm_hwm).values())
    return {
        "workers": workers,
        "seconds": seconds,
        "rows_done": int(sum(counts)),
        "partitions": len(counts),
        "shards": paths[: len(counts)],
        "idle_rss_bytes": idle,
        "peak_rss_sampled_bytes": sampler.peak,
        "peak_rss_hwm_bytes": hwm,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=2048, help="CSV size in MiB (default 2048)")
    ap.add_argument("--quick", action="store_true", help="a 64 MiB file")
    ap.add_argument("--blocksize-mb", type=int, default=64, help="CSV bytes per partition (default 64)")
    ap.add_argument(
        "--sdk-blocks", type=int, default=4, help="partitions the SDK alternative converts (default 4)"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="interleaved runs of the fast contenders (default 2, quick 1)",
    )
    ap.add_argument(
        "--slow-blocks",
        type=int,
        default=None,
        help="partitions the runs in distributed's default env convert (default 8, quick 0 = all)",
    )
    ap.add_argument("--dir", help="work directory (default: a new one under the system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated CSV for the next run")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    size = (64 if args.quick else args.size_mb) * MiB
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    if args.slow_blocks is None:
        args.slow_blocks = 0 if args.quick else 8
    blocksize = (4 if args.quick else args.blocksize_mb) * MiB
    work = args.dir or tempfile.mkdtemp(prefix="smp-dask-bench-")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, f"in-{size // MiB}MiB.csv")
    try:
        if os.path.exists(src + ".rows"):
            with open(src + ".rows") as f:
                rows = int(f.read())
            nbytes = os.path.getsize(src)
            print(f"reusing {src} ({nbytes / MiB:,.0f} MiB, {rows:,} rows)")
        else:
            t = time.perf_counter()
            rows, nbytes = write_csv(src, size)
            with open(src + ".rows", "w") as f:
                f.write(str(rows))
            took = time.perf_counter() - t
            print(
                f"wrote {nbytes / MiB:,.0f} MiB of CSV ({rows:,} rows x {COLS} float32 + label) "
                f"in {took:.1f} s"
            )
        load_before = os.getloadavg()
        cli_out = os.path.join(work, "cli.rec")
        exact: dict[str, bool] = {}

        def cli() -> dict[str, Any]:
            seconds, peak, _ = run_cli(["convert", src, cli_out, "--from", CT_CSV, "--dtype", "float32"])
            return {"seconds": seconds, "peak": [peak], "peak_rss_hwm_bytes": [peak], "workers": 1}

        def on_dask(workers: int, trim: bool, blocks: int | None = None) -> Any:
            def run() -> dict[str, Any]:
                out = os.path.join(work, f"dask-{workers}")
                shutil.rmtree(out, ignore_errors=True)
                r = run_dask(src, out, workers, blocksize, trim, blocks)
                exact[f"{workers}{'' if trim else ' no-trim'}"] = same_bytes(
                    cli_out, r["shards"], prefix=blocks is not None
                )
                shutil.rmtree(out, ignore_errors=True)
                r["trim"] = trim
                r["peak"] = r["peak_rss_sampled_bytes"]
                r["shards"] = len(r["shards"])
                return r

            return run

        def plural(n: int) -> str:
            return f"{n} worker{'s' if n > 1 else ''}"

        slow_blocks = args.slow_blocks if args.slow_blocks > 0 else None
        slow = f", first {slow_blocks} partitions" if slow_blocks else ""
        # The command line and the runs without the variable are interleaved `--repeat`
        # times (best time and highest peak kept: a noisy machine hits all alike); the much
        # slower runs in distributed's default environment run once.
        contenders: list[tuple[str, Any, int]] = [
            ("sm-payloads convert (1 process)", cli, args.repeat),
            *[
                (f"smp.dask, {plural(n)} (MALLOC_TRIM_THRESHOLD_ unset)", on_dask(n, False), args.repeat)
                for n in (1, 2)
            ],
            *[
                (f"smp.dask, {plural(n)} (distributed's default env){slow}", on_dask(n, True, slow_blocks), 1)
                for n in (1, 2)
            ],
        ]
        best: dict[str, dict[str, Any]] = {}
        for rep in range(max(c[2] for c in contenders)):
            for name, fn, times in contenders:
                if rep >= times:
                    continue
                r = fn()
                r["name"] = name
                r["rows_done"] = r.get("rows_done") or rows
                r["repeats"] = times
                prev = best.get(name)
                if prev is not None:
                    for key in ("peak", "peak_rss_hwm_bytes"):
                        r[key] = [max(a, b) for a, b in zip(r[key], prev[key], strict=True)]
                    if prev["seconds"] < r["seconds"]:
                        r["seconds"] = prev["seconds"]
                best[name] = r
        runs: list[dict[str, Any]] = [best[c[0]] for c in contenders]
        out = os.path.join(work, "sdk")
        shutil.rmtree(out, ignore_errors=True)
        r = run_sdk(src, out, 2, blocksize, args.sdk_blocks)
        exact["SDK, prefix"] = same_bytes(cli_out, r["shards"], prefix=True)
        r["name"] = (
            f"hand-rolled: dask.dataframe.read_csv + SDK write_numpy_to_dense_tensor, 2 workers, "
            f"first {r['partitions']} partitions"
        )
        r["peak"] = r["peak_rss_sampled_bytes"]
        r["shards"] = len(r["shards"])
        runs.append(r)
        shutil.rmtree(out, ignore_errors=True)
        load_after = os.getloadavg()
        rec_bytes = os.path.getsize(cli_out)
        os.remove(cli_out)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)
        elif not args.keep:
            for p in (src, src + ".rows"):
                if os.path.exists(p):
                    os.remove(p)
    base = runs[0]["rows_done"] / runs[0]["seconds"]
    print(
        f"\nCSV {nbytes / 1e9:.2f} GB, {rows:,} rows -> RecordIO-protobuf {rec_bytes / 1e9:.2f} GB; "
        f"{blocksize // MiB} MiB partitions; {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; best of {args.repeat} for the "
        "command line and the runs without MALLOC_TRIM_THRESHOLD_"
    )
    print("| run | rows | time | CSV MB/s | rows/s | vs CLI | peak RSS per worker, sampled | VmHWM | idle |")
    print("|---|--:|--:|--:|--:|--:|---|---|---|")
    for r in runs:
        s = r["seconds"]
        done = r["rows_done"]
        csv_mb = nbytes / 1e6 * done / rows  # a slice: at the file's mean bytes per row
        peaks = ", ".join(f"{p / 1e6:,.0f} MB" for p in r["peak"])
        hwm = ", ".join(f"{p / 1e6:,.0f} MB" for p in r["peak_rss_hwm_bytes"])
        idle = ", ".join(f"{p / 1e6:,.0f} MB" for p in r.get("idle_rss_bytes", [])) or "-"
        print(
            f"| {r['name']} | {done:,} | {s:.1f} s | {csv_mb / s:,.0f} | {done / s:,.0f} | "
            f"{done / s / base:.2f}x | {peaks} | {hwm} | {idle} |"
        )
    print(f"\nshards equal the CLI's output byte for byte: {exact}")
    if args.json:
        res = {
            "csv_bytes": nbytes,
            "recordio_bytes": rec_bytes,
            "rows": rows,
            "blocksize": blocksize,
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "runs": runs,
            "bytes_equal_cli": exact,
        }
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
