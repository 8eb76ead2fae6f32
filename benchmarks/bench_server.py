"""The model server over real sockets: requests/s and p50/p99 latency against the floor and
against the stack the AWS framework containers use.

    python -m benchmarks.bench_server [--quick] [--seconds S] [--rounds N] [--json FILE]

Four servers, each one worker process on 127.0.0.1, started as child processes:

* **echo**: a bare uvicorn ASGI app that reads the body and sends it back (the floor: HTTP
  parsing and the event loop, no codec, no routing);
* **echo_hop**: the same, with the answer made on a prediction thread and handed back
  through the server's own thread pool, as ``sm-payloads serve`` runs every predict (the
  floor of a server that keeps the model off the event loop, as issue #21 asks);
* **flask**: gunicorn (one worker, 8 threads, gthread) + Flask, decoding with the SageMaker
  inference toolkit's ``decoder.decode`` and answering with its ``encoder.encode``, what a
  container author writes without this package (CSV bodies are decoded to text first, as
  the toolkit's CSV decoder needs a str);
* **ours**: ``sm-payloads serve benchmarks.bench_server:predict`` (a plain ``def``: it runs
  on the server's prediction threads, so it is compared with echo_hop);
* **ours_async**: ``sm-payloads serve benchmarks.bench_server:apredict``, the same model as
  an ``async def``, which the server awaits on its event loop (no thread hop: compared
  with echo).

The model sums each record's features. Requests are CSV: **small** is one record of 10
values, **large** a 1 MB MultiRecord body (rows of 100 float32 values); answers are JSON.
The client is one asyncio process holding `concurrency` keep-alive connections, each
sending its next request when the last answer is read; every answer's status is checked,
and the first answer of each run is compared with the expected scores (json + numpy).
Runs last ``--seconds`` each (after a warm-up of 0.5 s), and every row is measured in
``--rounds`` rounds taking the servers in turn (all of them run at once): requests/s is
the median of the rounds, latencies are pooled.

The goals (issue #21), for small requests, in requests/s and in server CPU per answer: ours
within 1.3x of echo_hop and ours_async within 1.3x of echo; and ahead of gunicorn + Flask
at every size and concurrency. On a shared 2-core machine the client
and the server share the CPUs: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32)


# -- the servers' code (imported by the child processes) ---------------------------------


def predict(batch: Any) -> Any:
    import sm_payloads as smp

    return smp.RecordBatch(label={"score": batch.to_numpy().astype(np.float64).sum(axis=1)})


async def apredict(batch: Any) -> Any:
    """`predict` as an ``async def``: the server awaits it on the event loop."""
    return predict(batch)


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            return body


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    body = await _read_body(receive)
    ct = dict(scope["headers"]).get(b"content-type", b"application/octet-stream")
    headers = [(b"content-type", ct), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_HOP_POOL: Any = None


async def echo_hop_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`echo_app`, but the answer is made on a prediction thread and handed back, as
    ``sm-payloads serve`` runs every predict (its own `_Pool`, the same hop): the floor of
    any server that keeps the model off the event loop."""
    global _HOP_POOL
    if scope["type"] != "http":
        await echo_app(scope, receive, send)
        return
    from sm_payloads.server import _Pool, default_max_concurrency
    from sm_payloads.serving import Response

    if _HOP_POOL is None:
        _HOP_POOL = _Pool(default_max_concurrency(), 1024)
    body = await _read_body(receive)
    ct = dict(scope["headers"]).get(b"content-type", b"application/octet-stream")
    answer = await _HOP_POOL.run(lambda: Response(200, body, ct.decode("latin-1")), float("inf"))
    headers = [(b"content-type", ct), (b"content-length", b"%d" % len(answer.body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def flask_app() -> Any:
    """The gunicorn + Flask container: the inference toolkit's decoder and encoder."""
    import flask
    from sagemaker_inference import decoder, encoder

    app = flask.Flask("bench")

    @app.route("/ping", methods=["GET"])
    def ping() -> Any:
        return flask.Response(status=200)

    @app.route("/invocations", methods=["POST"])
    def invocations() -> Any:
        ct = flask.request.content_type
        data: Any = flask.request.get_data()
        if ct == "text/csv":
            data = data.decode("utf-8")
        X = decoder.decode(data, ct)
        X = np.atleast_2d(X)
        prediction = X.astype(np.float64).sum(axis=1)
        accept = flask.request.headers.get("Accept", "application/json")
        return flask.Response(encoder.encode(prediction, accept), status=200, mimetype=accept)

    return app


# -- the requests ------------------------------------------------------------------------


def csv_rows(X: np.ndarray) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X).encode()


def payloads() -> dict[str, tuple[bytes, np.ndarray]]:
    """(CSV body, expected scores) of each size."""
    rng = np.random.default_rng(21)
    small = rng.standard_normal((1, 10)).astype(np.float32)
    row_bytes = len(csv_rows(rng.standard_normal((1, 100)).astype(np.float32)))
    large = rng.standard_normal((2**20 // row_bytes, 100)).astype(np.float32)
    out = {}
    for name, X in (("small", small), ("large", large)):
        out[name] = (csv_rows(X), X.astype(np.float64).sum(axis=1))
    return out


def request_bytes(body: bytes) -> bytes:
    head = (
        "POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def check_answer(server: str, body: bytes, expected: np.ndarray) -> None:
    if server in ("echo", "echo_hop"):
        return
    doc = json.loads(body)
    got = [p["score"] for p in doc["predictions"]] if server.startswith("ours") else doc
    if not np.allclose(np.asarray(got, np.float64), expected, rtol=1e-6, atol=1e-9):
        raise SystemExit(f"{server}: wrong answer {body[:200]!r}")


# -- the client --------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if m is None:
        raise SystemExit(f"no content-length in {head!r}")
    body = await reader.readexactly(int(m.group(1)))
    return status, body


async def load(
    port: int, data: bytes, concurrency: int, seconds: float, warmup: float
) -> tuple[list[float], float, bytes, int]:
    """(latencies, requests/s, one answer, answers in all): the answers completed after the
    warm-up, until `seconds` have passed and at least max(10, concurrency) answers were
    counted; the last count includes the warm-up's answers."""
    done: list[tuple[float, float]] = []
    first: list[bytes] = []
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    enough = max(10, concurrency)

    def counted() -> int:
        return sum(1 for _, t1 in done if t1 > measure_from)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
        try:
            while time.perf_counter() < stop_at or counted() < enough:
                t0 = time.perf_counter()
                writer.write(data)
                status, body = await _read_response(reader)
                t1 = time.perf_counter()
                if status != 200:
                    raise SystemExit(f"status {status}: {body[:200]!r}")
                if not first:
                    first.append(body)
                done.append((t0, t1))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    window = [(t0, t1) for t0, t1 in done if t1 > measure_from]
    elapsed = max(t1 for _, t1 in window) - measure_from
    return [t1 - t0 for t0, t1 in window], len(window) / elapsed, first[0], len(done)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its descendants (a gunicorn master's worker),
    from /proc; None where there is no /proc. Unlike requests/s, CPU time per request hardly
    depends on what else the machine runs."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, tuple[int, float]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        # After the command's closing parenthesis: state, ppid, ... utime (12), stime (13).
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    if pid not in stats:
        return None
    total, frontier = 0.0, [pid]
    while frontier:
        p = frontier.pop()
        total += stats[p][1]
        frontier += [q for q, (ppid, _) in stats.items() if ppid == p]
    return total


# -- the runs ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(server: str, port: int, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """Start one server; `root` is the checkout that ``sm-payloads serve`` runs from (for
    the baseline, another checkout of this repository)."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(root) + (os.pathsep + path if path else "")}
    py = sys.executable
    if server in ("echo", "echo_hop"):
        cmd = [py, "-m", "uvicorn", f"benchmarks.bench_server:{server}_app", "--port", str(port)]
        cmd += ["--log-level", "warning", "--no-access-log"]
    elif server == "flask":
        cmd = [py, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "8", "-b", f"127.0.0.1:{port}"]
        cmd += ["--log-level", "warning", "benchmarks.bench_server:flask_app()"]
    else:
        model = "apredict" if server == "ours_async" else "predict"
        cmd = [py, "-m", "sm_payloads", "serve", f"benchmarks.bench_server:{model}", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200") or server in ("echo", "echo_hop"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{server} did not start")


SERVERS = ("echo", "echo_hop", "flask", "ours", "ours_async")


def uvicorn_settings() -> str:
    """The event loop and HTTP parser that uvicorn's defaults (``auto``) pick here, for both
    the echo app and ``sm-payloads serve``: uvloop and httptools when installed, else
    asyncio and h11."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"loop={loop} http={http}"


def run(
    seconds: float,
    warmup: float,
    concurrencies: tuple[int, ...],
    rounds: int,
    sizes: tuple[str, ...] = ("small", "large"),
    baseline: Path | None = None,
) -> dict[str, Any]:
    """All the servers run at once; each (size, concurrency) is measured in `rounds`
    rounds that take the servers in turn, so a change in the machine's load touches all
    of them alike. requests/s is the median of the rounds; latencies are pooled. With
    `baseline` (another checkout), its ``sm-payloads serve`` runs as one more server,
    measured in the same rounds: a before/after comparison under the same load."""
    bodies = {k: v for k, v in payloads().items() if k in sizes}
    load_before = os.getloadavg()
    servers = SERVERS if baseline is None else (*SERVERS, "baseline")
    ports = {server: free_port() for server in servers}
    procs = {}
    rows = []
    try:
        for server in servers:
            if server == "baseline":
                assert baseline is not None
                procs[server] = start("ours", ports[server], baseline)
            else:
                procs[server] = start(server, ports[server])
        for size, (body, expected) in bodies.items():
            data = request_bytes(body)
            for c in concurrencies:
                rps: dict[str, list[float]] = {server: [] for server in servers}
                lat: dict[str, list[float]] = {server: [] for server in servers}
                cpu: dict[str, list[float]] = {server: [] for server in servers}
                for _ in range(rounds):
                    for server in servers:
                        cpu0 = cpu_seconds(procs[server].pid)
                        latencies, r, answer, n = asyncio.run(load(ports[server], data, c, seconds, warmup))
                        cpu1 = cpu_seconds(procs[server].pid)
                        check_answer("ours" if server == "baseline" else server, answer, expected)
                        rps[server].append(r)
                        lat[server] += latencies
                        if cpu0 is not None and cpu1 is not None:
                            cpu[server].append((cpu1 - cpu0) / n * 1e6)
                for server in servers:
                    pooled = np.asarray(lat[server])
                    rows.append(
                        {
                            "server": server,
                            "size": size,
                            "bytes": len(body),
                            "concurrency": c,
                            "requests": len(pooled),
                            "rps": float(np.median(rps[server])),
                            "rps_rounds": rps[server],
                            "p50_ms": float(np.percentile(pooled, 50)) * 1e3,
                            "p99_ms": float(np.percentile(pooled, 99)) * 1e3,
                            # The server's CPU time per answer (all its threads; median of
                            # the rounds; warm-up answers included), None without /proc.
                            "cpu_us": float(np.median(cpu[server])) if cpu[server] else None,
                            "cpu_us_rounds": cpu[server],
                        }
                    )
                    cpu_us = rows[-1]["cpu_us"]
                    print(
                        f"{server:10} {size:5} c={c:<2} {rows[-1]['rps']:8.0f} req/s"
                        + ("" if cpu_us is None else f" {cpu_us:7.0f} us CPU/request"),
                        file=sys.stderr,
                    )
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {
        "rows": rows,
        "seconds": seconds,
        "rounds": rounds,
        "uvicorn": uvicorn_settings(),
        "baseline": None if baseline is None else str(baseline),
        "load_average": [load_before, os.getloadavg()],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def table(res: dict[str, Any]) -> str:
    by = {(r["server"], r["size"], r["concurrency"]): r for r in res["rows"]}
    (b1, b5, b15), (a1, a5, a15) = res["load_average"]
    base = res.get("baseline") is not None
    lines = [
        f"uvicorn {res['uvicorn']}; load average {b1:.1f} / {b5:.1f} / {b15:.1f} before, "
        f"{a1:.1f} / {a5:.1f} / {a15:.1f} after; {res['cpus']} CPUs, Python {res['python']}"
        + (f"; baseline: {res['baseline']}" if base else ""),
        "",
        "| request | concurrency | echo floor req/s (p50 / p99 ms) | echo + thread hop | gunicorn + Flask "
        + "| ours (def predict) | ours (async def predict) "
        + ("| baseline " if base else "")
        + "| ours / echo + hop | ours async / echo | ours / Flask "
        + "| server CPU µs per request: echo / echo + hop / Flask / ours / ours async"
        + (" / baseline " if base else " ")
        + "| CPU ratios: ours / echo + hop, ours async / echo |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: |" if base else ""),
    ]
    sizes = {"small": "small (1 record)", "large": "large (1 MB MultiRecord)"}

    def cell(r: dict[str, Any]) -> str:
        return f"{r['rps']:,.0f} ({r['p50_ms']:.2f} / {r['p99_ms']:.2f})"

    def cpu(r: dict[str, Any]) -> str:
        return "-" if r.get("cpu_us") is None else f"{r['cpu_us']:,.0f}"

    def cpu_ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
        if a.get("cpu_us") is None or b.get("cpu_us") is None:
            return "-"
        return f"{a['cpu_us'] / b['cpu_us']:.2f}x"

    for size, label in sizes.items():
        for c in sorted({r["concurrency"] for r in res["rows"] if r["size"] == size}):
            e, h, f, o, a = (by[(s, size, c)] for s in ("echo", "echo_hop", "flask", "ours", "ours_async"))
            b = by.get(("baseline", size, c))
            lines.append(
                f"| {label} | {c} | {cell(e)} | {cell(h)} | {cell(f)} | {cell(o)} | {cell(a)} "
                + (f"| {cell(b)} " if b else "")
                + f"| {o['rps'] / h['rps']:.2f}x | {a['rps'] / e['rps']:.2f}x | {o['rps'] / f['rps']:.2f}x "
                + f"| {cpu(e)} / {cpu(h)} / {cpu(f)} / {cpu(o)} / {cpu(a)}"
                + (f" / {cpu(b)} " if b else " ")
                + f"| {cpu_ratio(o, h)}, {cpu_ratio(a, e)} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="short runs at concurrency 1 and 8: checks the script"
    )
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per run (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per row, servers in turn (default 3)")
    ap.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=list(CONCURRENCY),
        help="connections held by the client (default 1 8 32)",
    )
    ap.add_argument(
        "--sizes", nargs="+", choices=("small", "large"), default=["small", "large"], help="request sizes"
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another checkout whose sm-payloads serve runs as a fourth server in the same rounds",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args()
    sizes = tuple(args.sizes)
    if args.quick:
        res = run(0.5, 0.2, (1, 8), 1, sizes, args.baseline)
    else:
        res = run(args.seconds, 0.5, tuple(args.concurrency), args.rounds, sizes, args.baseline)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    print(table(res))


if __name__ == "__main__":
    main()
