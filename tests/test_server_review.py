"""The model server attacked as a hostile client and as a container author would: framing
over raw sockets against ``sm-payloads serve`` in a child process, and the app's logic
with hand-made ASGI messages. Every wait is bounded; expected bytes are written out here.

Regressions of faults found by review:
- a body that stalls or trickles held its connection (and the bytes sent) for ever: now 408
  once ``timeout_s`` passes without the whole body;
- ``SystemExit`` / ``KeyboardInterrupt`` raised by the predict function escaped the app
  (under uvicorn, its generic 500 and an "Exception in ASGI application" traceback): now
  the app's own logged 500, and the worker keeps serving;
- control characters in ``Accept`` (h11 lets ``\\x01`` and ``\\x7f`` through) were echoed
  into the answer's ``Content-Type``: now 406 (415 in ``Content-Type``);
- ``HEAD /ping`` was 405: now answered as ``GET``, without a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.server import BACKLOG_PER_THREAD, asgi_app
from sm_payloads.serving import handle
from tests.test_server import CSV, TEXT, Reply, call, got, post, score, text

CONTROL = [chr(c) for c in [*range(0, 9), *range(10, 32), 127]]


# -- the body must arrive within the timeout -------------------------------------------


async def call_with_stall(
    app: Any, pieces: list[bytes], gap: float | None, headers: list[tuple[str, str]]
) -> Reply:
    """A POST whose body comes as `pieces` (more_body each time), `gap` seconds apart, and
    then never ends (`gap` None: the receive after the pieces waits for ever)."""
    reply = Reply()

    async def receive() -> dict[str, Any]:
        i = reply.reads
        reply.reads += 1
        if i < len(pieces):
            if i and gap:
                await asyncio.sleep(gap)
            return {"type": "http.request", "body": pieces[i], "more_body": True}
        if gap is None:
            await asyncio.Event().wait()
        await asyncio.sleep(gap)
        return {"type": "http.request", "body": b"1", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        reply.messages += 1
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            reply.body += message["body"]

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(k.encode(), v.encode()) for k, v in headers],
    }
    # bounded: before the fix the app waited here for ever
    await asyncio.wait_for(app(scope, receive, send), 10)
    return reply


def test_a_stalled_body_is_408_within_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    app = asgi_app(lambda b: calls.append(1) or score(b), env={}, timeout_s=0.3)
    t0 = time.monotonic()
    r = asyncio.run(call_with_stall(app, [b"1,2"], None, [("content-type", CSV), ("content-length", "10")]))
    elapsed = time.monotonic() - t0
    assert got(r) == text(
        408, "the request body did not arrive within the timeout of 0.3 s (3 bytes received)"
    )
    assert r.headers["connection"] == "close"
    assert 0.25 < elapsed < 3
    assert calls == []
    assert "408: the request body did not arrive within 0.3 s" in caplog.text


def test_a_trickled_chunked_body_is_408() -> None:
    """One byte every 50 ms never completes: cut at the timeout, not by the gap."""
    app = asgi_app(score, env={}, timeout_s=0.4)
    t0 = time.monotonic()
    r = asyncio.run(
        call_with_stall(app, [b"1"], 0.05, [("content-type", CSV), ("transfer-encoding", "chunked")])
    )
    assert r.status == 408 and 0.35 < time.monotonic() - t0 < 3
    received = r.body.decode().rpartition("(")[2]
    n = int(received.split()[0])
    assert (
        r.body
        == f"the request body did not arrive within the timeout of 0.4 s ({n} bytes received)\n".encode()
    )
    assert 2 <= n <= 12  # the first byte, then about one per 50 ms


def test_no_timeout_means_no_read_deadline() -> None:
    async def scenario() -> Reply:
        app = asgi_app(score, env={}, timeout_s=None)
        reply = Reply()
        parts = [b"1,", b"2\n"]

        async def receive() -> dict[str, Any]:
            i = reply.reads
            reply.reads += 1
            await asyncio.sleep(0.3)
            return {"type": "http.request", "body": parts[i], "more_body": i == 0}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                reply.status = message["status"]
            else:
                reply.body += message["body"]

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/invocations",
            "headers": [(b"content-type", b"text/csv"), (b"accept", b"text/csv")],
        }
        await asyncio.wait_for(app(scope, receive, send), 10)
        return reply

    r = asyncio.run(scenario())
    assert (r.status, r.body) == (200, b"3.0\n")


def test_the_body_and_the_prediction_each_have_the_timeout() -> None:
    """The read deadline ends with the body; the prediction then has the whole timeout."""

    def slow(b: smp.RecordBatch) -> smp.RecordBatch:
        time.sleep(0.9)
        return score(b)

    async def scenario() -> Reply:
        app = asgi_app(slow, env={}, timeout_s=2.0)
        reply = Reply()
        parts = [b"1,", b"2\n"]

        async def receive() -> dict[str, Any]:
            i = reply.reads
            reply.reads += 1
            if i:
                await asyncio.sleep(1.3)
            return {"type": "http.request", "body": parts[i], "more_body": i == 0}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                reply.status = message["status"]
            else:
                reply.body += message["body"]

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/invocations",
            "headers": [(b"content-type", b"text/csv"), (b"accept", b"text/csv")],
        }
        await asyncio.wait_for(app(scope, receive, send), 10)
        return reply

    r = asyncio.run(scenario())
    assert (r.status, r.body) == (200, b"3.0\n")


def test_the_read_deadline_does_not_swallow_a_real_cancellation() -> None:
    """A cancel from outside (the server shutting down) still cancels the request."""
    app = asgi_app(score, env={}, timeout_s=30)

    async def scenario() -> None:
        task = asyncio.ensure_future(
            call_with_stall(app, [b"1,2"], None, [("content-type", CSV), ("content-length", "10")])
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


# -- bodies held per worker --------------------------------------------------------------


def test_requests_sending_bodies_count_with_those_waiting() -> None:
    """Nine requests (1 thread + a backlog of 8) stall in their bodies; the tenth is 503
    before a byte of its body is read, so slow senders cannot make a worker hold bodies
    without bound. Once they are gone (408), requests are read again."""
    app = asgi_app(score, env={}, max_concurrency=1, timeout_s=0.5)
    headers = [("content-type", CSV), ("accept", CSV)]

    async def scenario() -> tuple[list[Reply], Reply, Reply]:
        stalled = [
            asyncio.ensure_future(call_with_stall(app, [b"1,"], None, [*headers, ("content-length", "4")]))
            for _ in range(1 + BACKLOG_PER_THREAD)
        ]
        await asyncio.sleep(0.05)
        over = await call(app, "POST", "/invocations", [b"1,2\n"], headers)
        done = list(await asyncio.gather(*stalled))
        after = await call(app, "POST", "/invocations", [b"1,2\n"], headers)
        return done, over, after

    done, over, after = asyncio.run(scenario())
    assert got(over) == text(
        503,
        "the server is busy (0 requests are running and 0 are waiting, 9 sending their bodies); try again",
    )
    assert over.reads == 0 and over.headers["retry-after"] == "1"
    assert [r.status for r in done] == [408] * 9
    assert got(after) == (200, CSV, b"3.0\n")


# -- BaseException from predict ---------------------------------------------------------


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()])
def test_predict_raising_a_base_exception_is_a_logged_500_and_the_worker_stays_usable(
    error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        if b.to_numpy()[0, 0] == -1:
            raise error
        return score(b)

    app = asgi_app(predict, env={}, max_concurrency=1)
    with caplog.at_level(logging.ERROR, "sm_payloads.server"):
        r = post(app, b"-1,2\n", CSV, CSV)
    assert got(r) == text(500, "the server failed to handle the request (see the container log)")
    assert f"the request raised {type(error).__name__}" in caplog.text
    # the one thread came back and serves the next request
    assert got(post(app, b"1,2\n", CSV, CSV)) == (200, CSV, b"3.0\n")


# -- control characters in headers ---------------------------------------------------------


@pytest.mark.parametrize("c", CONTROL)
def test_control_characters_in_accept_are_406_never_echoed(c: str) -> None:
    accept = f'text/csv; a="x{c}y"'
    r = handle(b"1,2\n", CSV, accept, score, env={})
    assert (r.status, r.content_type, r.body) == (
        406,
        TEXT,
        f"Accept {accept!r}: control characters in a header value\n".encode(),
    )


@pytest.mark.parametrize("c", CONTROL)
def test_control_characters_in_content_type_are_415(c: str) -> None:
    ct = f'text/csv; a="x{c}y"'
    r = handle(b"1,2\n", ct, CSV, score, env={})
    assert (r.status, r.body) == (
        415,
        f"Content-Type {ct!r}: control characters in a header value\n".encode(),
    )


def test_tab_and_obs_text_in_a_quoted_parameter_stay_allowed() -> None:
    for accept in ['text/csv; a="x\ty"', 'text/csv; a="\xe9"']:
        r = handle(b"1,2\n", CSV, accept, score, env={})
        assert (r.status, r.content_type, r.body) == (200, accept, b"3.0\n")


_HEADER_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
_PIECES = st.sampled_from(
    [
        "text/csv",
        "application/json",
        "application/x-npy",
        "*/*",
        ";",
        ",",
        "=",
        '"',
        "q=",
        "label_size=",
        " ",
        "\t",
        "charset=utf-8",
    ]
)
_HEADER = st.one_of(_HEADER_TEXT, st.lists(st.one_of(_PIECES, _HEADER_TEXT), max_size=8).map("".join))


@settings(max_examples=400, deadline=None)
@given(content_type=_HEADER, accept=st.one_of(st.none(), _HEADER))
def test_any_header_text_is_answered_never_500_and_never_echoes_a_control_character(
    content_type: str, accept: str | None
) -> None:
    r = handle(b"1,2\n", content_type, accept, lambda b: np.zeros(len(b)), env={})
    assert r.status in (200, 400, 406, 415), (r.status, r.body)
    assert not any(c in r.content_type for c in CONTROL)
    r.content_type.encode("latin-1")  # a header value the server can send


def test_long_accept_headers_are_not_kept_in_memory() -> None:
    """uvicorn takes headers of a few hundred kB: 30 distinct 100 kB Accept headers
    (each a valid list, empty members) must not stay in memory after their requests are answered."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(30):
            accept = f"text/csv;q=0.9, x/y{i}" + "," * 100_000
            r = handle(b"1,2\n", CSV, accept, score, env={})
            assert (r.status, r.content_type, r.body) == (200, CSV, b"3.0\n")
            del accept, r
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000, kept  # 30 x 100 kB were kept before


@pytest.mark.parametrize("configured", ['text/csv; x="\u20ac"', 'text/csv; x="\x01"'])
def test_a_default_accept_a_header_cannot_carry_is_a_logged_500(
    configured: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT with a character outside latin-1 raised
    UnicodeEncodeError out of the app on every request without Accept."""
    app = asgi_app(score, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": configured})
    assert got(post(app, b"1,2\n", CSV)) == text(500, "the server is misconfigured (see its log)")
    assert f"the answer's Content-Type {configured!r} cannot be sent in a header" in caplog.text
    assert got(post(app, b"1,2\n", CSV, CSV)) == (200, CSV, b"3.0\n")


# -- HEAD ------------------------------------------------------------------------------


def test_head_ping_is_answered_as_get() -> None:
    release = threading.Event()
    app = asgi_app(score, env={}, load=lambda: release.wait(10))
    assert got(asyncio.run(call(app, "HEAD", "/ping"))) == text(503, "the model is loading")
    release.set()
    end = time.monotonic() + 10
    while asyncio.run(call(app, "HEAD", "/ping")).status != 200:
        assert time.monotonic() < end
        time.sleep(0.01)
    assert got(asyncio.run(call(app, "HEAD", "/ping"))) == (200, TEXT, b"")
    r = asyncio.run(call(app, "HEAD", "/execution-parameters"))
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    assert got(asyncio.run(call(app, "HEAD", "/invocations"))) == text(405, "HEAD /invocations: use POST")


# ======================================================================================
# Over real sockets
# ======================================================================================

uvicorn = pytest.importorskip("uvicorn", reason="the server runs on uvicorn")

from tests.test_server_e2e import (  # noqa: E402
    MODEL,
    ROOT,
    UVICORN_400,
    ModelServer,
    exchange,
    request,
    response,
    strip_date,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("model")
    (d / "model.py").write_text(MODEL)
    return d


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    m = tmp_path_factory.mktemp("marks")
    with ModelServer(
        model_dir, args=["--timeout", "1"], env={"MODEL_MARKS": str(m), "MODEL_TRACE": "1"}
    ) as s:
        s.marks = m  # type: ignore[attr-defined]
        yield s
    assert s.proc is not None and s.proc.returncode == 0, s.log


def calls(server: ModelServer) -> int:
    return len(list(server.marks.glob("called-*")))  # type: ignore[attr-defined]


def test_a_stalled_body_over_a_socket_is_408_and_closed(server: ModelServer) -> None:
    before = calls(server)
    t0 = time.monotonic()
    out = exchange(server.port, request(b"1,", "Content-Type: text/csv", "Content-Length: 10"), timeout=10)
    assert out == response(
        "408 Request Timeout",
        b"the request body did not arrive within the timeout of 1 s (2 bytes received)\n",
        close=True,
    )
    assert time.monotonic() - t0 < 5
    assert calls(server) == before


def test_a_chunk_that_announces_more_than_it_sends_is_408(server: ModelServer) -> None:
    data = request(b"ffffffffffffffffffff\r\n1,2\n", "Content-Type: text/csv", "Transfer-Encoding: chunked")
    out = exchange(server.port, data, timeout=10)
    assert out == response(
        "408 Request Timeout",
        b"the request body did not arrive within the timeout of 1 s (4 bytes received)\n",
        close=True,
    )


@pytest.mark.parametrize(
    "head",
    [
        "Content-Length: +4",  # a sign
        "Content-Length: 4\r\nContent-Length: 5",  # two different lengths
        "Content-Length: 999999999999999999999999999999",  # too many digits for uvicorn
        "Transfer-Encoding: gzip, chunked",  # a coding uvicorn does not undo
        "Transfer-Encoding : chunked",  # whitespace before the colon (RFC 9112, 5.1)
    ],
)
def test_framing_uvicorn_refuses_is_its_400_and_never_reaches_predict(server: ModelServer, head: str) -> None:
    before = calls(server)
    data = request(b"4\r\n1,2\n\r\n0\r\n\r\n", "Content-Type: text/csv", head)
    assert exchange(server.port, data) == UVICORN_400
    assert calls(server) == before


def test_content_length_with_spaces_around_it_is_read(server: ModelServer) -> None:
    data = request(
        b"1,2\n", "Content-Type: text/csv", "Accept: text/csv", "Content-Length:   4  ", "Connection: close"
    )
    assert exchange(server.port, data) == response("200 OK", b"3.0\n", b"text/csv")


def test_a_pipelined_request_after_a_413_is_not_read(server: ModelServer) -> None:
    data = (
        request(b"", "Content-Type: text/csv", "Content-Length: 99999999")
        + b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert exchange(server.port, data) == response(
        "413 Request Entity Too Large",
        b"request body of 99999999 bytes exceeds the limit of 6291456 bytes\n",
        close=True,
    )


def test_http_1_0_without_content_length_is_an_empty_body(server: ModelServer) -> None:
    """An HTTP/1.0 request without Content-Length has no body (RFC 9112, 6.3): the bytes
    after its headers are not read as one."""
    out = exchange(server.port, b"POST /invocations HTTP/1.0\r\nContent-Type: text/csv\r\n\r\n1,2\n")
    assert out == response(
        "400 Bad Request", b"the request body is empty; send at least one record as text/csv\n"
    )


def test_an_endpoint_name_with_an_encoded_slash_is_404(server: ModelServer) -> None:
    data = request(
        b"1,2\n",
        "Content-Type: text/csv",
        "Content-Length: 4",
        "Connection: close",
        path="/endpoints/a%2Fb/invocations",
    )
    assert exchange(server.port, data) == response(
        "404 Not Found", b"no route /endpoints/a/b/invocations: use GET /ping or POST /invocations\n"
    )


def test_control_characters_in_accept_are_406_over_a_socket(server: ModelServer) -> None:
    data = request(
        b"1,2\n",
        "Content-Type: text/csv",
        'Accept: text/csv; a="\x01"',
        "Content-Length: 4",
        "Connection: close",
    )
    assert exchange(server.port, data) == response(
        "406 Not Acceptable", b"Accept 'text/csv; a=\"\\x01\"': control characters in a header value\n"
    )


def test_head_ping_over_a_socket_has_no_body(server: ModelServer) -> None:
    out = exchange(server.port, b"HEAD /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out == response("200 OK", b"")[: -len(b"\r\n")] + b"\r\n"


def test_expect_100_continue_with_a_small_body_is_continued(server: ModelServer) -> None:
    data = request(
        b"1,2\n",
        "Content-Type: text/csv",
        "Accept: text/csv",
        "Expect: 100-continue",
        "Content-Length: 4",
        "Connection: close",
    )
    assert exchange(server.port, data) == b"HTTP/1.1 100 Continue\r\n\r\n" + response(
        "200 OK", b"3.0\n", b"text/csv"
    )


def test_sigterm_while_load_runs_exits_0(model_dir: Path, tmp_path: Path) -> None:
    """load() never returns (it waits for a file nobody writes): SIGTERM still stops the
    worker, promptly and with status 0."""
    m = tmp_path / "marks"
    m.mkdir()
    with ModelServer(model_dir, args=["--load", "model:load"], env={"MODEL_MARKS": str(m)}) as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert c.recv(1 << 16).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        t0 = time.monotonic()
        assert s.stop(signal.SIGTERM, timeout=15) == 0
        assert time.monotonic() - t0 < 10
    assert "Traceback" not in s.log


def test_sigterm_with_a_stalled_body_exits_once_it_times_out(model_dir: Path, tmp_path: Path) -> None:
    """uvicorn waits for the requests in flight before it exits; a body that never ends
    held the shutdown for ever, now for at most the timeout."""
    m = tmp_path / "marks"
    m.mkdir()
    with ModelServer(model_dir, args=["--timeout", "1"], env={"MODEL_MARKS": str(m)}) as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=15) as c:
            c.sendall(request(b"1,", "Content-Type: text/csv", "Content-Length: 10"))
            time.sleep(0.2)
            t0 = time.monotonic()
            assert s.proc is not None
            s.proc.send_signal(signal.SIGTERM)
            out = b""
            while chunk := c.recv(1 << 16):
                out += chunk
        # one SIGTERM only: a second one after uvicorn has stopped may find the default
        # handler back (serve() restores it on return) and end the process with -15
        assert s.proc.wait(15) == 0
        assert time.monotonic() - t0 < 10
        assert s.stop() == 0
    assert strip_date(out) == response(
        "408 Request Timeout",
        b"the request body did not arrive within the timeout of 1 s (2 bytes received)\n",
        close=True,
    )


def test_an_answer_before_the_body_closes_the_connection(model_dir: Path, tmp_path: Path) -> None:
    """A client with ``Expect: 100-continue`` answered 503 (the model is loading) need not
    send its body (RFC 9110, 10.1.1): kept open, the server read the client's next request
    as that body (here its first 4 bytes) and answered the rest 400. Now it closes."""
    m = tmp_path / "marks"
    m.mkdir()
    with ModelServer(model_dir, args=["--load", "model:load"], env={"MODEL_MARKS": str(m)}) as s:
        head = request(b"", "Content-Type: text/csv", "Expect: 100-continue", "Content-Length: 4")
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(head)
            out = b""
            end = time.monotonic() + 10
            while not out.endswith(b"the model is loading\n"):
                assert time.monotonic() < end, out
                out += c.recv(1 << 16)
            with contextlib.suppress(OSError):
                c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            rest = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := c.recv(1 << 16):
                    rest += chunk
        assert strip_date(out) == response("503 Service Unavailable", b"the model is loading\n", close=True)
        assert rest == b""  # closed: the next request is not read as the body
        # without a body there is nothing unread: the connection stays open
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
            out = b""
            while out.count(b"the model is loading\n") < 2:
                out += c.recv(1 << 16)
        assert strip_date(out) == response("503 Service Unavailable", b"the model is loading\n") * 2
        assert s.stop() == 0


@pytest.mark.parametrize(
    ("method", "path", "headers", "close"),
    [
        ("POST", "/ping", [("content-length", "4")], True),
        ("POST", "/nowhere", [("transfer-encoding", "chunked")], True),
        ("PUT", "/invocations", [("content-length", "4")], True),
        ("GET", "/ping", [("content-length", "0")], False),
        ("GET", "/ping", [], False),
    ],
)
def test_answers_before_an_announced_body_close(
    method: str, path: str, headers: list[tuple[str, str]], close: bool
) -> None:
    r = asyncio.run(call(asgi_app(score, env={}), method, path, [b"1,2\n"], headers))
    assert r.reads == 0
    assert r.headers.get("connection") == ("close" if close else None)


def test_a_port_out_of_range_is_a_usage_error(model_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sm_payloads", "serve", "model:predict", "--port", "70000"],
        cwd=model_dir,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MODEL_MARKS": str(model_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == "sm-payloads: error: port 70000 is out of range (0 to 65535; 0: any free port)\n"
