"""``sm-payloads serve`` as a child process on a free 127.0.0.1 port, driven over real
sockets: hostile framing byte by byte, /ping during a slow prediction, the load() hook,
a load run of mixed formats, the per-request timeout, several workers, and SIGTERM with a
request in flight.

`ModelServer` (used by tests/test_e2e_clients.py and tests/test_e2e_sdk.py too) starts
``python -m sm_payloads serve MODULE:CALLABLE --port 0`` and reads the port from the one
line it prints when listening. Every wait is bounded. Request bodies are written here
without sm_payloads (csv by hand, json, numpy.save, the SageMaker SDK's RecordIO writer) and
answers read back with json and float(), so the oracle is independent of the code under
test."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="the server runs on uvicorn: pip install 'sm_payloads[serve]'")

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0

MODEL = """
import os, time, pathlib
import numpy as np
import sm_payloads as smp

MARKS = pathlib.Path(os.environ["MODEL_MARKS"])


def predict(batch):
    X = batch.to_numpy().astype(np.float64)
    first = float(X[0, 0]) if X.size else 0.0
    if os.environ.get("MODEL_TRACE"):
        (MARKS / f"called-{time.monotonic_ns()}").touch()
    if first == -1:  # a slow prediction
        (MARKS / "slow-started").touch()
        time.sleep(float(os.environ.get("MODEL_SLOW_S", "2")))
    if first == -2:  # records as dicts with text: no npy for them
        return [{"label": "cat", "score": 0.5}] * len(batch)
    return smp.RecordBatch(label={"score": X.sum(axis=1)})


async def apredict(batch):
    # predict as an async def, awaited on the event loop; -1 awaits a slow call.
    import asyncio, threading

    X = batch.to_numpy().astype(np.float64)
    first = float(X[0, 0]) if X.size else 0.0
    if first == -1:
        (MARKS / "slow-started").touch()
        await asyncio.sleep(float(os.environ.get("MODEL_SLOW_S", "2")))
    if first == -3:
        raise RuntimeError("the model is broken")
    on_main = threading.current_thread() is threading.main_thread()
    return smp.RecordBatch(label={"score": X.sum(axis=1), "main": np.full(len(batch), on_main)})


def load():
    while not (MARKS / "go").exists():
        time.sleep(0.01)
    if (MARKS / "fail").exists():
        raise RuntimeError("cannot read the weights")
"""


class ModelServer:
    """``sm-payloads serve`` in a child process; `port` once it listens."""

    def __init__(
        self,
        directory: Path,
        reference: str = "model:predict",
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.command = [sys.executable, "-m", "sm_payloads", "serve", reference, "--port", "0", *args]
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            **(env or {}),
        }
        self.lines: list[str] = []
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._listening = threading.Event()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.fullmatch(r"sm-payloads: serving \S+ on http://127\.0\.0\.1:(\d+) \(.*\)\n", line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()

    def __enter__(self) -> ModelServer:
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.directory,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        end = time.monotonic() + START_TIMEOUT
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop(signal.SIGKILL)
                pytest.fail("the server did not start:\n" + "".join(self.lines))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit status (SIGKILL past `timeout`: a failure)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            pytest.fail(f"the server did not exit within {timeout} s of signal {sig}:\n{self.log}")
        self._reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return rc

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.stop()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("model")
    (d / "model.py").write_text(MODEL)
    return d


def marks(tmp_path: Path) -> Path:
    m = tmp_path / "marks"
    m.mkdir(exist_ok=True)
    return m


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """SAGEMAKER_MAX_PAYLOAD_IN_MB=8: above the 6 MiB default, so the test sees it honoured."""
    m = tmp_path_factory.mktemp("marks")
    env = {"MODEL_MARKS": str(m), "MODEL_TRACE": "1", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "8"}
    with ModelServer(model_dir, env=env) as s:
        s.marks = m  # type: ignore[attr-defined]
        yield s
    assert s.proc is not None and s.proc.returncode == 0, s.log


# -- raw sockets -----------------------------------------------------------------------


def exchange(port: int, data: bytes, *, half_close: bool = False, timeout: float = 10.0) -> bytes:
    """Send `data`, then read until the server closes (bounded by `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        else:
            pytest.fail(f"the server neither answered nor closed within {timeout} s: {out!r}")
    return strip_date(out)


def strip_date(raw: bytes) -> bytes:
    """Without the date, and without the ``Connection: close`` uvicorn adds when the client
    asked for it or on its own 400 (the app's own is lower-case ``connection: close``)."""
    return re.sub(rb"date: [^\r]*\r\n|Connection: close\r\n", b"", raw)


def response(
    status: str, body: bytes, ct: bytes = b"text/plain; charset=utf-8", close: bool = False
) -> bytes:
    head = b"HTTP/1.1 " + status.encode() + b"\r\nserver: uvicorn\r\ncontent-type: " + ct
    head += b"\r\ncontent-length: %d\r\n" % len(body)
    if close:
        head += b"connection: close\r\n"
    return head + b"\r\n" + body


def request(body: bytes, *headers: str, path: str = "/invocations") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


UVICORN_400 = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n"
    b"Invalid HTTP request received."
)


def calls(server: ModelServer) -> int:
    return len(list(server.marks.glob("called-*")))  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["-5", "abc", "5, 6", "0x10"])
def test_malformed_content_length_is_400_and_the_rest_is_not_a_request(
    server: ModelServer, value: str
) -> None:
    before = calls(server)
    # what follows the headers would be a second request if the server read it as one
    out = exchange(server.port, request(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", f"Content-Length: {value}"))
    assert out == UVICORN_400
    assert calls(server) == before


def test_content_length_with_transfer_encoding_is_400(server: ModelServer) -> None:
    data = request(
        b"4\r\n1,2\n\r\n0\r\n\r\n",
        "Content-Type: text/csv",
        "Transfer-Encoding: chunked",
        "Content-Length: 4",
    )
    assert exchange(server.port, data) == response(
        "400 Bad Request", b"both Transfer-Encoding and Content-Length\n", close=True
    )


def test_truncated_body_then_half_close_is_never_processed(server: ModelServer) -> None:
    before = calls(server)
    out = exchange(
        server.port, request(b"1,2\n", "Content-Type: text/csv", "Content-Length: 5000000"), half_close=True
    )
    assert out == b""
    time.sleep(0.2)
    assert calls(server) == before


@pytest.mark.parametrize("expect", [False, True])
def test_content_length_over_the_limit_is_413_before_the_body(server: ModelServer, expect: bool) -> None:
    length = 8 * 2**20 + 1
    headers = ["Content-Type: text/csv", f"Content-Length: {length}"] + (
        ["Expect: 100-continue"] if expect else []
    )
    # no body byte is sent: the answer comes without it (and no "100 Continue" before it)
    out = exchange(server.port, request(b"", *headers))
    message = f"request body of {length} bytes exceeds the limit of {8 * 2**20} bytes\n".encode()
    assert out == response("413 Request Entity Too Large", message, close=True)


def test_the_environment_limit_is_honoured_above_the_default(server: ModelServer) -> None:
    rows = 7 * 2**20 // 16  # 7 MiB of CSV: over the 6 MiB default, under the 8 MiB set
    body = b"1,2,3,4,5,6,7,8\n" * rows
    out = exchange(
        server.port,
        request(
            body,
            "Content-Type: text/csv",
            "Accept: text/csv",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ),
    )
    assert out == response("200 OK", b"36.0\n" * rows, b"text/csv")


def test_chunked_body_is_cut_off_once_past_the_limit(server: ModelServer) -> None:
    limit = 8 * 2**20
    piece = b"1" * (1 << 18)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    sent = 0
    out = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request(b"", "Content-Type: text/csv", "Transfer-Encoding: chunked"))
        end = time.monotonic() + 30
        while time.monotonic() < end and sent < 4 * limit:
            if select.select([s], [], [], 0.01)[0]:
                break
            try:
                s.sendall(chunk)
            except OSError:
                break
            sent += len(piece)
        with contextlib.suppress(ConnectionResetError):
            while chunk_in := s.recv(1 << 16):
                out += chunk_in
    m = re.fullmatch(
        rb"HTTP/1.1 413 Request Entity Too Large\r\nserver: uvicorn\r\n"
        rb"content-type: text/plain; charset=utf-8\r\n"
        rb"content-length: (\d+)\r\nconnection: close\r\n\r\n"
        rb"request body exceeds the limit of 8388608 bytes \((\d+) bytes received\)\n",
        strip_date(out),
    )
    assert m is not None, out
    received = int(m.group(2))
    assert limit < received <= sent
    assert int(m.group(1)) == len(
        f"request body exceeds the limit of 8388608 bytes ({received} bytes received)\n"
    )
    assert sent < 2 * limit  # cut off as it passed the limit, not at the end


def test_empty_body_is_400(server: ModelServer) -> None:
    out = exchange(
        server.port, request(b"", "Content-Type: text/csv", "Content-Length: 0", "Connection: close")
    )
    assert out == response(
        "400 Bad Request", b"the request body is empty; send at least one record as text/csv\n"
    )


def test_object_records_as_npy_is_406(server: ModelServer) -> None:
    body = b"-2,0\n"
    data = request(
        body, "Content-Type: text/csv", "Accept: application/x-npy", "Content-Length: 5", "Connection: close"
    )
    message = (
        b"the prediction cannot be written as application/x-npy: object arrays need pickle, which is "
        b"never written; ask for one of: application/json, application/jsonlines, text/csv, "
        b"application/x-recordio-protobuf\n"
    )
    assert exchange(server.port, data) == response("406 Not Acceptable", message)


def test_keep_alive_answers_each_request_in_order(server: ModelServer) -> None:
    one = request(b"1,2\n", "Content-Type: text/csv", "Accept: text/csv", "Content-Length: 4")
    two = request(
        b"3,4\n",
        "Content-Type: text/csv",
        "Accept: application/json",
        "Content-Length: 4",
        "Connection: close",
    )
    assert exchange(server.port, one + two) == response("200 OK", b"3.0\n", b"text/csv") + response(
        "200 OK", b'{"predictions":[{"score":7.0}]}', b"application/json"
    )


def test_ping_and_execution_parameters(server: ModelServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/ping")
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"")
    conn.request("GET", "/execution-parameters")
    r = conn.getresponse()
    assert r.status == 200
    cpus = min(32, (os.cpu_count() or 1) + 4)
    assert json.loads(r.read()) == {
        "MaxConcurrentTransforms": cpus,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 8,
    }
    conn.close()


# -- /ping while a prediction runs -----------------------------------------------------


def post(
    port: int, body: bytes, ct: str, accept: str | None = None, timeout: float = 30
) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": ct, **({"Accept": accept} if accept else {})}
        conn.request("POST", "/invocations", body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.headers.get("Content-Type", ""), r.read()
    finally:
        conn.close()


def wait_for_path(path: Path, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.005)


def test_ping_answers_at_once_during_a_slow_prediction(model_dir: Path, tmp_path: Path) -> None:
    m = marks(tmp_path)
    with ModelServer(model_dir, env={"MODEL_MARKS": str(m), "MODEL_SLOW_S": "3"}) as s:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(post, s.port, b"-1,5\n", "text/csv", "text/csv")
            wait_for_path(m / "slow-started")
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                conn.request("GET", "/ping")
                r = conn.getresponse()
                assert (r.status, r.read()) == (200, b"")
                times.append(time.perf_counter() - t0)
            conn.close()
            assert not slow.done()  # all 20 pings while the prediction ran
            assert slow.result(30) == (200, "text/csv", b"4.0\n")
        assert sorted(times)[10] < 0.05 and max(times) < 0.5, times
        assert s.stop() == 0


# -- load() -----------------------------------------------------------------------------


def ping(port: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/ping")
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_ping(port: int, status: int, timeout: float = 20) -> tuple[int, bytes]:
    """Ping until the answer has `status` (refused connections too: several workers listen
    once started)."""
    end = time.monotonic() + timeout
    while True:
        try:
            got = ping(port)
        except ConnectionRefusedError as e:
            got = (0, repr(e).encode())
        if got[0] == status:
            return got
        assert time.monotonic() < end, got
        time.sleep(0.01)


def test_ping_is_503_until_load_returns(model_dir: Path, tmp_path: Path) -> None:
    m = marks(tmp_path)
    # the last "serve" is what SageMaker's `docker run IMAGE serve` appends to the ENTRYPOINT
    with ModelServer(model_dir, args=["--load", "model:load", "serve"], env={"MODEL_MARKS": str(m)}) as s:
        assert ping(s.port) == (503, b"the model is loading\n")
        assert post(s.port, b"1,2\n", "text/csv") == (
            503,
            "text/plain; charset=utf-8",
            b"the model is loading\n",
        )
        (m / "go").touch()
        assert wait_ping(s.port, 200) == (200, b"")
        assert post(s.port, b"1,2\n", "text/csv", "text/csv") == (200, "text/csv", b"3.0\n")
        assert s.stop() == 0


def test_ping_is_503_after_load_failed(model_dir: Path, tmp_path: Path) -> None:
    m = marks(tmp_path)
    (m / "fail").touch()
    with ModelServer(model_dir, args=["--load", "model:load"], env={"MODEL_MARKS": str(m)}) as s:
        (m / "go").touch()
        failed = (503, b"the model failed to load (see the container log)\n")
        end = time.monotonic() + 20
        while ping(s.port) != failed:
            assert time.monotonic() < end
            time.sleep(0.01)
        assert s.stop() == 0
    assert "RuntimeError: cannot read the weights" in s.log


# -- timeout ---------------------------------------------------------------------------


def test_timeout_is_504_and_the_worker_stays_usable(model_dir: Path, tmp_path: Path) -> None:
    m = marks(tmp_path)
    env = {"MODEL_MARKS": str(m), "MODEL_SLOW_S": "3"}
    with ModelServer(model_dir, args=["--timeout", "0.5"], env=env) as s:
        t0 = time.monotonic()
        got = post(s.port, b"-1,5\n", "text/csv", "text/csv")
        assert got == (
            504,
            "text/plain; charset=utf-8",
            b"the prediction did not finish within the timeout of 0.5 s\n",
        )
        assert time.monotonic() - t0 < 2.5
        assert post(s.port, b"1,2\n", "text/csv", "text/csv") == (200, "text/csv", b"3.0\n")
        assert s.stop() == 0
    assert "504: the request was not answered within 0.5 s" in s.log


# -- load run ---------------------------------------------------------------------------


def csv_body(X: np.ndarray) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X).encode()


def npy_body(X: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, X, allow_pickle=False)
    return buf.getvalue()


def rio_body(X: np.ndarray) -> bytes:
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X)
    return buf.getvalue()


WRITERS = {
    "text/csv": csv_body,
    "application/json": lambda X: json.dumps({"instances": X.tolist()}).encode(),
    "application/jsonlines": lambda X: "".join(
        json.dumps({"features": r}) + "\n" for r in X.tolist()
    ).encode(),
    "application/x-npy": npy_body,
    "application/x-recordio-protobuf": rio_body,
}


def read_scores(body: bytes, ct: str) -> list[float]:
    if ct == "application/json":
        return [p["score"] for p in json.loads(body)["predictions"]]
    if ct == "application/jsonlines":
        return [json.loads(line)["score"] for line in body.splitlines()]
    assert ct == "text/csv"
    return [float(line) for line in body.decode().splitlines()]


def test_load_run_2000_requests_at_concurrency_32(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("sagemaker.amazon.common")
    rng = np.random.default_rng(21)
    cases = []
    for i in range(2000):
        ct = list(WRITERS)[i % len(WRITERS)]
        accept = ["application/json", "text/csv", "application/jsonlines"][i % 3]
        rows, cols = int(rng.integers(1, 20)), int(rng.integers(1, 8))
        # float32 values (exact in every writer; RecordIO keeps float32) with a float64 sum
        X = rng.standard_normal((rows, cols)).astype(np.float32).astype(np.float64)
        if ct == "application/x-recordio-protobuf":
            X32 = X.astype(np.float32)
            cases.append((WRITERS[ct](X32), ct, accept, X32.astype(np.float64).sum(axis=1)))
        else:
            cases.append((WRITERS[ct](X), ct, accept, X.sum(axis=1)))
    m = marks(tmp_path)
    with ModelServer(model_dir, args=["--max-concurrency", "8"], env={"MODEL_MARKS": str(m)}) as s:
        local = threading.local()
        connections: list[http.client.HTTPConnection] = []

        def one(case: tuple[bytes, str, str, np.ndarray]) -> tuple[int, str, list[float]]:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
                connections.append(local.conn)
            body, ct, accept, _ = case
            local.conn.request(
                "POST", "/invocations", body=body, headers={"Content-Type": ct, "Accept": accept}
            )
            r = local.conn.getresponse()
            data = r.read()
            answered = r.headers.get("Content-Type", "")
            return r.status, answered, read_scores(data, answered) if r.status == 200 else [data]

        t0 = time.monotonic()
        try:
            with ThreadPoolExecutor(32) as pool:
                results = list(pool.map(one, cases, timeout=300))
        finally:
            for conn in connections:
                conn.close()
        elapsed = time.monotonic() - t0
        assert s.stop() == 0
    assert len(results) == 2000
    for (_, _, accept, expected), (status, answered, scores) in zip(cases, results, strict=True):
        assert (status, answered) == (200, accept)
        assert scores == expected.tolist()  # the shortest repr of each float64 reads back exactly
    print(f"2000 requests in {elapsed:.2f} s")


# -- SIGTERM, workers --------------------------------------------------------------------


def test_sigterm_finishes_the_request_in_flight_then_exits_0(model_dir: Path, tmp_path: Path) -> None:
    m = marks(tmp_path)
    with ModelServer(model_dir, env={"MODEL_MARKS": str(m), "MODEL_SLOW_S": "1.5"}) as s:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(post, s.port, b"-1,5\n", "text/csv", "text/csv")
            wait_for_path(m / "slow-started")
            assert s.proc is not None
            s.proc.send_signal(signal.SIGTERM)
            assert slow.result(30) == (200, "text/csv", b"4.0\n")
        # one SIGTERM only: a second one could land after serve() restored the default handler
        assert s.proc.wait(30) == 0
        assert s.stop() == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.port), timeout=5).close()
    assert "Traceback" not in s.log


def test_several_workers(model_dir: Path, tmp_path: Path) -> None:
    m = marks(tmp_path)
    with ModelServer(model_dir, args=["--workers", "2"], env={"MODEL_MARKS": str(m)}) as s:
        assert re.fullmatch(
            r"sm-payloads: serving model:predict on http://127\.0\.0\.1:\d+ \(2 workers; .*\)\n", s.lines[0]
        )
        wait_ping(s.port, 200)
        for i in range(20):
            assert post(s.port, b"%d,1\n" % i, "text/csv", "text/csv") == (
                200,
                "text/csv",
                b"%d.0\n" % (i + 1),
            )
        assert s.stop() == 0


def test_a_reference_that_cannot_be_imported_is_a_usage_error(model_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sm_payloads", "serve", "model:nothing", "--port", "0"],
        cwd=model_dir,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MODEL_MARKS": str(model_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == "sm-payloads: error: 'model:nothing': 'model' has no 'nothing'\n"


def test_the_port_taken_is_exit_1(server: ModelServer, model_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sm_payloads", "serve", "model:predict", "--port", str(server.port)],
        cwd=model_dir,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MODEL_MARKS": str(model_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "address already in use" in out.stderr


# -- async def predict ------------------------------------------------------------------


def test_serve_takes_an_async_predict(model_dir: Path, tmp_path: Path) -> None:
    """``sm-payloads serve model:apredict``: awaited on the event loop (its thread is the
    main one, where uvicorn runs the loop); while it awaits, /ping answers; past the timeout
    504; raising, the same 500 as a plain predict."""
    m = marks(tmp_path)
    env = {"MODEL_MARKS": str(m), "MODEL_SLOW_S": "3"}
    with ModelServer(model_dir, "model:apredict", args=["--timeout", "1"], env=env) as s:
        assert post(s.port, b"1,2\n3,4\n", "text/csv", "text/csv") == (200, "text/csv", b"3.0,1\n7.0,1\n")
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(post, s.port, b"-1,5\n", "text/csv", "text/csv")
            wait_for_path(m / "slow-started")
            assert ping(s.port) == (200, b"")
            assert slow.result(30) == (
                504,
                "text/plain; charset=utf-8",
                b"the prediction did not finish within the timeout of 1 s\n",
            )
        assert post(s.port, b"-3,1\n", "text/csv") == (
            500,
            "text/plain; charset=utf-8",
            b"the model failed to produce a prediction (see the container log)\n",
        )
        assert post(s.port, b"1,2\n", "text/csv", "text/csv") == (200, "text/csv", b"3.0,1\n")
        assert s.stop() == 0
    assert "504: the request was not answered within 1.0 s; its predict was cancelled" in s.log
    assert "RuntimeError: the model is broken" in s.log
