"""sm_payloads.server's ASGI app driven directly: hand-made receive / send, no socket.

Each call records what the app sent and how many body messages it asked for, so "answered
before the body was read" is checked exactly. Expected bodies are written out here (the
byte counts by arithmetic), or for a valid request compared with `smp.serving.handle` on
the same bytes, the core the server must only carry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.server import BACKLOG_PER_THREAD, asgi_app, default_max_concurrency
from sm_payloads.serving import handle

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
TEXT = "text/plain; charset=utf-8"
RIO = "application/x-recordio-protobuf"


def score(batch: smp.RecordBatch) -> smp.RecordBatch:
    return smp.RecordBatch(label={"score": batch.to_numpy().astype(np.float64).sum(axis=1)})


@dataclass
class Reply:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reads: int = 0  # body messages the app asked for
    messages: int = 0


async def call(
    app: Any,
    method: str,
    path: str,
    chunks: list[bytes] | None = None,
    headers: list[tuple[str, str]] | None = None,
    *,
    disconnect_after: int | None = None,
) -> Reply:
    """One request: `chunks` are the body messages (the last one without more_body);
    `disconnect_after`: after that many chunks the client is gone (http.disconnect)."""
    chunks = [b""] if chunks is None else chunks
    reply = Reply()

    async def receive() -> dict[str, Any]:
        i = reply.reads
        reply.reads += 1
        if disconnect_after is not None and i >= disconnect_after:
            return {"type": "http.disconnect"}
        if i >= len(chunks):  # the whole body is read: a server waits until the client goes
            await asyncio.Event().wait()
        return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}

    async def send(message: dict[str, Any]) -> None:
        reply.messages += 1
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            reply.body += message["body"]

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or [])],
    }
    await app(scope, receive, send)
    return reply


def post(app: Any, body: bytes, ct: str | None = CSV, accept: str | None = None, **kw: Any) -> Reply:
    headers = [("content-length", str(len(body)))]
    if ct is not None:
        headers.append(("content-type", ct))
    if accept is not None:
        headers.append(("accept", accept))
    return asyncio.run(call(app, "POST", "/invocations", [body], headers, **kw))


def text(status: int, message: str) -> tuple[int, str, bytes]:
    return status, TEXT, (message + "\n").encode()


def got(r: Reply) -> tuple[int | None, str | None, bytes]:
    assert r.headers.get("content-length") == str(len(r.body))
    return r.status, r.headers.get("content-type"), r.body


# -- routes ----------------------------------------------------------------------------


def test_ping_and_invocations_without_load() -> None:
    app = asgi_app(score, env={})
    assert got(asyncio.run(call(app, "GET", "/ping"))) == (200, TEXT, b"")
    r = post(app, b"1,2\n3,4.5\n", CSV, JSON)
    assert got(r) == (200, JSON, b'{"predictions":[{"score":3.0},{"score":7.5}]}')
    # The body only: a request that finds a thread free does not wait, so it does not
    # watch for its client going away (a request that waits does: see below).
    assert r.reads == 1


@pytest.mark.parametrize("path", ["/invocations", "/invocations/", "/endpoints/my-endpoint/invocations"])
def test_invocation_paths(path: str) -> None:
    app = asgi_app(score, env={})
    body = b"1,2\n"
    headers = [("content-type", CSV), ("accept", CSV)]
    assert got(asyncio.run(call(app, "POST", path, [body], headers))) == (200, CSV, b"3.0\n")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/", text(404, "no route /: use GET /ping or POST /invocations")),
        (
            "POST",
            "/endpoints/a/b/invocations",
            text(404, "no route /endpoints/a/b/invocations: use GET /ping or POST /invocations"),
        ),
        ("GET", "/invocations", text(405, "GET /invocations: use POST")),
        ("POST", "/ping", text(405, "POST /ping: use GET")),
        ("PUT", "/execution-parameters", text(405, "PUT /execution-parameters: use GET")),
    ],
)
def test_unknown_routes_and_methods(method: str, path: str, expected: tuple[int, str, bytes]) -> None:
    r = asyncio.run(call(asyncio_app := asgi_app(score, env={}), method, path))
    assert asyncio_app is not None
    assert got(r) == expected
    assert r.reads == 0
    if expected[0] == 405:
        assert r.headers["allow"] == ("POST" if path == "/invocations" else "GET")


@pytest.mark.parametrize(
    ("env", "kwargs", "expected"),
    [
        (
            {},
            {"max_concurrency": 3},
            {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6},
        ),
        (
            {
                "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
                "SAGEMAKER_BATCH_STRATEGY": "SingleRecord",
                "SM_PAYLOADS_WORKERS": "4",
            },
            {"max_concurrency": 2},
            {"MaxConcurrentTransforms": 8, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20},
        ),
        (
            {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "5"},
            {},
            {"MaxConcurrentTransforms": 5, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 0},
        ),
        (
            {},
            {"limits": smp.Limits(max_bytes=3 * 2**20 + 5)},
            {
                "MaxConcurrentTransforms": default_max_concurrency(),
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": 3,
            },
        ),
    ],
)
def test_execution_parameters(env: dict[str, str], kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    r = asyncio.run(call(asgi_app(score, env=env, **kwargs), "GET", "/execution-parameters"))
    assert (r.status, r.headers["content-type"]) == (200, JSON)
    assert json.loads(r.body) == expected


# -- health: load() --------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_ping_is_503_while_loading_then_200() -> None:
    release = threading.Event()
    loaded: list[str] = []

    def load() -> None:
        loaded.append(threading.current_thread().name)
        assert release.wait(10)

    app = asgi_app(score, env={}, load=load)
    loading = text(503, "the model is loading")
    assert got(asyncio.run(call(app, "GET", "/ping"))) == loading
    r = post(app, b"1,2\n")
    assert got(r) == loading and r.reads == 0
    release.set()
    wait_for(lambda: asyncio.run(call(app, "GET", "/ping")).status == 200)
    assert got(post(app, b"1,2\n", CSV, CSV)) == (200, CSV, b"3.0\n")
    assert loaded == ["sm-payloads-load"]  # once, on its own thread


def test_ping_is_503_after_load_failed(caplog: pytest.LogCaptureFixture) -> None:
    def load() -> None:
        raise OSError("no /opt/ml/model/model.bin")

    app = asgi_app(score, env={}, load=load)
    failed = text(503, "the model failed to load (see the container log)")
    asyncio.run(call(app, "GET", "/ping"))
    wait_for(lambda: asyncio.run(call(app, "GET", "/ping")).body != b"the model is loading\n")
    assert got(asyncio.run(call(app, "GET", "/ping"))) == failed
    assert got(post(app, b"1,2\n")) == failed
    assert "no /opt/ml/model/model.bin" in caplog.text


def test_lifespan_starts_loading_and_completes() -> None:
    started = threading.Event()
    app = asgi_app(score, env={}, load=started.set)
    sent: list[dict[str, Any]] = []
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert started.wait(10)


# -- framing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (["-5"], "'-5'"),
        (["abc"], "'abc'"),
        (["5, 6"], "'5, 6'"),
        (["5", "6"], "'5, 6'"),
        ([""], "''"),
        (["+5"], "'+5'"),
    ],
)
def test_malformed_content_length_is_400_before_reading(values: list[str], shown: str) -> None:
    headers = [("content-type", CSV)] + [("content-length", v) for v in values]
    r = asyncio.run(call(asgi_app(score, env={}), "POST", "/invocations", [b"1,2\n"], headers))
    assert got(r) == text(400, f"malformed Content-Length {shown}")
    assert r.reads == 0 and r.headers["connection"] == "close"


def test_content_length_with_transfer_encoding_is_400() -> None:
    headers = [("content-type", CSV), ("transfer-encoding", "chunked"), ("content-length", "4")]
    r = asyncio.run(call(asgi_app(score, env={}), "POST", "/invocations", [b"1,2\n"], headers))
    assert got(r) == text(400, "both Transfer-Encoding and Content-Length")
    assert r.reads == 0 and r.headers["connection"] == "close"


def test_repeated_equal_content_length_is_one() -> None:
    headers = [("content-type", CSV), ("accept", CSV), ("content-length", "4"), ("content-length", "4")]
    r = asyncio.run(call(asgi_app(score, env={}), "POST", "/invocations", [b"1,2\n"], headers))
    assert got(r) == (200, CSV, b"3.0\n")


@pytest.mark.parametrize(
    ("env", "limits", "length", "limit"),
    [
        ({}, None, 6 * 2**20 + 1, 6 * 2**20),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}, None, 2**20 + 1, 2**20),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"}, None, 20 * 2**20 + 1, 20 * 2**20),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"}, smp.Limits(max_bytes=100), 101, 100),
    ],
)
def test_content_length_over_the_limit_is_413_before_reading(
    env: dict[str, str], limits: smp.Limits | None, length: int, limit: int
) -> None:
    headers = [("content-type", CSV), ("content-length", str(length))]
    r = asyncio.run(call(asgi_app(score, env=env, limits=limits), "POST", "/invocations", [b"1"], headers))
    assert got(r) == text(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
    assert r.reads == 0 and r.headers["connection"] == "close"


def test_limit_from_the_environment_is_honoured_above_the_default() -> None:
    # 8 MiB of CSV passes with SAGEMAKER_MAX_PAYLOAD_IN_MB=20 (the old example refused it at 6 MiB)
    row = b"1,2,3,4,5,6,7,8\n"  # 16 bytes: 524288 records, within max_records
    body = row * (8 * 2**20 // len(row))
    app = asgi_app(
        lambda b: smp.RecordBatch(label={"n": np.array([len(b)])}), env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"}
    )
    r = post(app, body, CSV, JSON)
    assert got(r) == (200, JSON, b'{"predictions":[{"n":%d}]}' % (8 * 2**20 // 16))


def test_chunked_body_is_cut_off_once_past_the_limit() -> None:
    app = asgi_app(score, env={}, limits=smp.Limits(max_bytes=1000))
    chunks = [b"1" * 400] * 5  # 400, 800, 1200: cut at the third
    r = asyncio.run(
        call(app, "POST", "/invocations", chunks, [("content-type", CSV), ("transfer-encoding", "chunked")])
    )
    assert got(r) == text(413, "request body exceeds the limit of 1000 bytes (1200 bytes received)")
    assert r.reads == 3 and r.headers["connection"] == "close"


def test_a_body_in_one_message_past_the_limit_is_413_without_waiting() -> None:
    # The whole body in the first message (as a server reads a small one with the headers)
    # and no Content-Length to refuse it before: refused as it is, the connection closed.
    app = asgi_app(score, env={}, limits=smp.Limits(max_bytes=1000))
    r = asyncio.run(
        call(
            app,
            "POST",
            "/invocations",
            [b"1" * 1200],
            [("content-type", CSV), ("transfer-encoding", "chunked")],
        )
    )
    assert got(r) == text(413, "request body exceeds the limit of 1000 bytes (1200 bytes received)")
    assert r.reads == 1 and r.headers["connection"] == "close"
    ok = asyncio.run(
        call(
            app, "POST", "/invocations", [b"1,2\n"], [("content-type", CSV), ("transfer-encoding", "chunked")]
        )
    )
    assert ok.status == 200 and ok.reads == 1


def test_chunked_body_at_the_limit_is_read() -> None:
    app = asgi_app(score, env={}, limits=smp.Limits(max_bytes=8))
    r = asyncio.run(
        call(
            app,
            "POST",
            "/invocations",
            [b"1,2\n", b"3,4\n"],
            [("content-type", CSV), ("accept", CSV), ("transfer-encoding", "chunked")],
        )
    )
    assert got(r) == (200, CSV, b"3.0\n7.0\n")


def test_a_disconnect_mid_body_is_never_processed() -> None:
    calls: list[int] = []

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        calls.append(len(b))
        return score(b)

    app = asgi_app(predict, env={})
    headers = [("content-type", CSV), ("content-length", "5000000")]
    r = asyncio.run(call(app, "POST", "/invocations", [b"1,2\n", b"3,4\n"], headers, disconnect_after=1))
    assert (r.status, r.messages, calls) == (None, 0, [])


def test_a_body_shorter_than_content_length_is_400() -> None:
    """A server that ends the body early without a disconnect: never processed either."""
    calls: list[int] = []
    app = asgi_app(lambda b: calls.append(1) or score(b), env={})
    headers = [("content-type", CSV), ("content-length", "10")]
    r = asyncio.run(call(app, "POST", "/invocations", [b"1,2\n"], headers))
    assert got(r) == text(400, "request body of 4 bytes, but Content-Length says 10")
    assert calls == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=6), st.sampled_from([CSV, JSON, "application/jsonlines"]))
def test_any_chunking_answers_as_handle(cuts: list[int], ct: str) -> None:
    X = np.array([[0.5, 1.25, -3.0], [1e-300, 2.0, 7.0]])
    body = smp.encode_request(X, ct)
    points = sorted({min(c, len(body)) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    app = asgi_app(score, env={})
    r = asyncio.run(
        call(app, "POST", "/invocations", chunks, [("content-type", ct), ("transfer-encoding", "chunked")])
    )
    expected = handle(body, ct, None, score, env={})
    assert got(r) == (expected.status, expected.content_type, expected.body) and expected.status == 200


# -- answers ---------------------------------------------------------------------------


def test_empty_body_is_400() -> None:
    assert got(post(asgi_app(score, env={}), b"", CSV)) == text(
        400, "the request body is empty; send at least one record as text/csv"
    )


def test_object_records_as_npy_is_406_in_the_users_terms() -> None:
    app = asgi_app(lambda b: [{"label": "cat", "score": 0.9}] * len(b), env={})
    assert got(post(app, b"1,2\n", CSV, NPY)) == text(
        406,
        "the prediction cannot be written as application/x-npy: object arrays need pickle, which is never "
        "written; ask for one of: application/json, application/jsonlines, text/csv, "
        "application/x-recordio-protobuf",
    )


def test_response_over_its_limit_is_413_never_truncated() -> None:
    n = 300_000  # "score":0.5 per record: far over 1 MiB of JSON
    app = asgi_app(
        lambda b: smp.RecordBatch(label={"score": np.full(n, 0.5)}), env={"SAGEMAKER_MAX_RESPONSE_IN_MB": "1"}
    )
    size = len(b'{"predictions":[]}') + n * len(b'{"score":0.5}') + (n - 1)
    assert got(post(app, b"1,2\n", CSV, JSON)) == text(
        413,
        f"the prediction written as application/json is {size} bytes, over the response limit of 1048576 "
        "bytes (SAGEMAKER_MAX_RESPONSE_IN_MB); send fewer records per request",
    )
    unlimited = asgi_app(
        lambda b: smp.RecordBatch(label={"score": np.full(n, 0.5)}), env={"SAGEMAKER_MAX_RESPONSE_IN_MB": "0"}
    )
    r = post(unlimited, b"1,2\n", CSV, JSON)
    assert r.status == 200 and len(r.body) == size


def test_predict_errors_stay_500_with_no_internals() -> None:
    def boom(b: smp.RecordBatch) -> Any:
        raise KeyError("secret")

    assert got(post(asgi_app(boom, env={}), b"1,2\n")) == text(
        500, "the model failed to produce a prediction (see the container log)"
    )


# -- threads, timeout, concurrency -----------------------------------------------------


def test_predict_runs_off_the_event_loop_and_ping_answers_meanwhile() -> None:
    entered, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def slow(b: smp.RecordBatch) -> smp.RecordBatch:
        threads.append(threading.current_thread().name)
        entered.set()
        assert release.wait(10)
        return score(b)

    app = asgi_app(slow, env={})

    async def scenario() -> tuple[Reply, Reply, float]:
        task = asyncio.ensure_future(
            call(app, "POST", "/invocations", [b"1,2\n"], [("content-type", CSV), ("accept", CSV)])
        )
        while not entered.is_set():
            await asyncio.sleep(0.001)
        t0 = time.perf_counter()
        ping = await call(app, "GET", "/ping")
        dt = time.perf_counter() - t0
        release.set()
        return ping, await task, dt

    ping, r, dt = asyncio.run(scenario())
    assert got(ping) == (200, TEXT, b"") and dt < 0.5
    assert got(r) == (200, CSV, b"3.0\n")
    assert threads == ["sm-payloads-0"]


def test_timeout_is_504_and_the_worker_stays_usable(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    first = threading.Event()

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        if not first.is_set():
            first.set()
            assert release.wait(10)
        return score(b)

    app = asgi_app(predict, env={}, timeout_s=0.2, max_concurrency=2)
    r = post(app, b"1,2\n", CSV, CSV)
    assert got(r) == text(504, "the prediction did not finish within the timeout of 0.2 s")
    assert "504" in caplog.text
    assert got(post(app, b"3,4\n", CSV, CSV)) == (200, CSV, b"7.0\n")  # the other thread
    release.set()


def test_ping_is_503_while_every_thread_runs_an_overdue_prediction() -> None:
    release = threading.Event()
    done: list[float] = []

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        x = float(b.to_numpy()[0, 0])
        if x < 2:
            assert release.wait(10)
        done.append(x)
        return score(b)

    app = asgi_app(predict, env={}, timeout_s=0.2, max_concurrency=2)
    headers = [("content-type", CSV), ("accept", CSV)]
    wedged = text(
        503, "all 2 prediction threads still run predictions that timed out (see the container log)"
    )

    async def scenario() -> list[tuple[int | None, str | None, bytes]]:
        seen = []
        first = await call(app, "POST", "/invocations", [b"0,0\n"], headers)
        seen += [got(first), got(await call(app, "GET", "/ping"))]  # one thread of two is overdue
        second = await call(app, "POST", "/invocations", [b"1,0\n"], headers)
        seen += [got(second), got(await call(app, "GET", "/ping"))]
        seen.append(got(await call(app, "POST", "/invocations", [b"5,0\n"], headers)))
        release.set()
        while len(done) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the threads' answers reach the loop
        seen += [got(await call(app, "GET", "/ping"))]
        seen.append(got(await call(app, "POST", "/invocations", [b"5,0\n"], headers)))
        return seen

    timed_out = text(504, "the prediction did not finish within the timeout of 0.2 s")
    assert asyncio.run(scenario()) == [
        timed_out,
        (200, TEXT, b""),
        timed_out,
        wedged,
        wedged,
        (200, TEXT, b""),
        (200, CSV, b"5.0\n"),
    ]


def test_a_request_whose_client_left_while_waiting_is_never_predicted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered, release = threading.Event(), threading.Event()
    seen: list[float] = []

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        x = float(b.to_numpy()[0, 0])
        seen.append(x)
        if x == 0:
            entered.set()
            assert release.wait(10)
        return score(b)

    app = asgi_app(predict, env={}, max_concurrency=1)
    headers = [("content-type", CSV), ("accept", CSV)]
    caplog.set_level(logging.INFO, logger="sm_payloads")

    async def scenario() -> tuple[Reply, Reply, Reply]:
        blocker = asyncio.ensure_future(call(app, "POST", "/invocations", [b"0,0\n"], headers))
        while not entered.is_set():
            await asyncio.sleep(0.001)
        # the whole body arrives, then the client goes while the request waits for the thread
        left = asyncio.ensure_future(
            call(app, "POST", "/invocations", [b"1,0\n"], headers, disconnect_after=1)
        )
        await asyncio.sleep(0.05)
        release.set()
        after = await call(app, "POST", "/invocations", [b"2,0\n"], headers)
        return await blocker, await left, after

    blocker, left, after = asyncio.run(scenario())
    assert got(blocker) == (200, CSV, b"0.0\n")
    assert blocker.reads == 1  # a thread was free: no watch
    # the body, then the watch's receive(), which returned http.disconnect
    assert left.reads == 2
    assert (left.status, left.messages) == (None, 0)  # nothing sent: the client is gone
    assert got(after) == (200, CSV, b"2.0\n")
    assert seen == [0.0, 2.0]
    assert "the client went away before its prediction started: not run" in caplog.text


def test_past_max_concurrency_requests_wait_then_503() -> None:
    entered, release = threading.Event(), threading.Event()
    order: list[float] = []

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        x = float(b.to_numpy()[0, 0])
        if x == 0:
            entered.set()
            assert release.wait(10)
        order.append(x)
        return score(b)

    app = asgi_app(predict, env={}, max_concurrency=1)
    headers = [("content-type", CSV), ("accept", CSV)]

    async def scenario() -> tuple[Reply, list[Reply], Reply]:
        blocker = asyncio.ensure_future(call(app, "POST", "/invocations", [b"0,0\n"], headers))
        while not entered.is_set():
            await asyncio.sleep(0.001)
        waiting = [
            asyncio.ensure_future(call(app, "POST", "/invocations", [b"%d,0\n" % (i + 1)], headers))
            for i in range(BACKLOG_PER_THREAD)
        ]
        await asyncio.sleep(0.05)
        over = await call(app, "POST", "/invocations", [b"99,0\n"], headers)
        release.set()
        return await blocker, list(await asyncio.gather(*waiting)), over

    blocker, waiting, over = asyncio.run(scenario())
    assert got(over) == text(503, "the server is busy (1 requests are running and 8 are waiting); try again")
    assert over.headers["retry-after"] == "1"
    assert got(blocker) == (200, CSV, b"0.0\n")
    assert [got(w) for w in waiting] == [(200, CSV, b"%d.0\n" % (i + 1)) for i in range(BACKLOG_PER_THREAD)]
    assert order == [0.0, *range(1, BACKLOG_PER_THREAD + 1)]  # in arrival order


def test_waiting_past_the_timeout_is_503() -> None:
    entered, release = threading.Event(), threading.Event()

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        entered.set()
        assert release.wait(10)
        return score(b)

    app = asgi_app(predict, env={}, max_concurrency=1, timeout_s=0.3)
    headers = [("content-type", CSV), ("accept", CSV)]

    async def scenario() -> tuple[Reply, Reply]:
        blocker = asyncio.ensure_future(call(app, "POST", "/invocations", [b"1,2\n"], headers))
        while not entered.is_set():
            await asyncio.sleep(0.001)
        waiter = await call(app, "POST", "/invocations", [b"1,2\n"], headers)
        return await blocker, waiter

    blocker, waiter = asyncio.run(scenario())
    release.set()
    assert got(blocker) == text(504, "the prediction did not finish within the timeout of 0.3 s")
    assert got(waiter) == text(503, "the server is busy (no thread became free in time); try again")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be a positive int or None, got 0"),
        ({"max_concurrency": True}, "max_concurrency must be a positive int or None, got True"),
        ({"timeout_s": 0}, "timeout_s must be a positive number of seconds or None, got 0"),
        ({"timeout_s": -1.0}, "timeout_s must be a positive number of seconds or None, got -1.0"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as e:
        asgi_app(score, env={}, **kwargs)
    assert str(e.value) == error


def test_repeated_accept_headers_are_one_list() -> None:
    headers = [("content-type", CSV), ("accept", "image/png"), ("accept", "text/csv")]
    r = asyncio.run(call(asgi_app(score, env={}), "POST", "/invocations", [b"1,2\n"], headers))
    assert got(r) == (200, CSV, b"3.0\n")


def test_import_needs_no_uvicorn() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "import sm_payloads as smp\n"
        "assert 'uvicorn' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "app = smp.server.asgi_app(lambda b: b)\n"
        "try:\n    smp.server.serve('x:y')\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == 'sm-payloads serve needs uvicorn: pip install "sm_payloads[serve]"\n'


def test_import_sm_payloads_does_not_import_uvicorn() -> None:
    import subprocess
    import sys

    code = "import sys, sm_payloads, sm_payloads.server; print('uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "False\n"


def test_cli_without_uvicorn_says_what_to_install() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from sm_payloads.cli import main\n"
        "sys.exit(main(['serve', 'x:y']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (1, "")
    assert (
        out.stderr
        == 'sm-payloads: error: sm-payloads serve needs uvicorn: pip install "sm_payloads[serve]"\n'
    )


def test_cli_serve_help() -> None:
    from sm_payloads.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    assert text.startswith("usage: sm-payloads serve [-h] [--load MODULE:CALLABLE] [--host HOST]")
    flat = " ".join(text.split())
    for words in (
        "GET /ping (200 once --load has returned, 503 before or after it failed)",
        "POST /invocations and /endpoints/NAME/invocations, GET /execution-parameters",
        "SIGTERM stops accepting connections, finishes the requests in flight and exits 0",
        'pip install "sm_payloads[serve]"',
    ):
        assert words in flat


# -- the way back from the prediction threads ------------------------------------------


needs_eventfd = pytest.mark.skipif(
    not hasattr(__import__("os"), "eventfd"), reason="os.eventfd is Linux-only"
)


@needs_eventfd
def test_results_posted_from_threads_all_arrive_in_order() -> None:
    from sm_payloads.server import _Wakeup

    got: list[tuple[int, int]] = []
    n_threads, per_thread = 4, 500

    async def scenario() -> None:
        w = _Wakeup(asyncio.get_running_loop())
        all_in = asyncio.Event()

        def record(t: int, i: int) -> None:
            got.append((t, i))
            if len(got) == n_threads * per_thread:
                all_in.set()

        def poster(t: int) -> None:
            for i in range(per_thread):
                w.post(record, t, i)

        threads = [threading.Thread(target=poster, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        await asyncio.wait_for(all_in.wait(), 10)
        for th in threads:
            th.join()
        w.forget()

    asyncio.run(scenario())
    assert len(got) == n_threads * per_thread
    for t in range(n_threads):  # each thread's results in the order it posted them
        assert [i for u, i in got if u == t] == list(range(per_thread))


@needs_eventfd
def test_a_failing_result_callback_is_reported_and_the_others_still_run() -> None:
    from sm_payloads.server import _Wakeup

    ran: list[int] = []
    reported: list[str] = []

    def fail() -> None:
        raise ValueError("boom")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: reported.append(repr(ctx["exception"])))
        w = _Wakeup(loop)
        done = asyncio.Event()
        threading.Thread(target=lambda: (w.post(fail), w.post(ran.append, 1), w.post(done.set))).start()
        await asyncio.wait_for(done.wait(), 10)
        w.forget()

    asyncio.run(scenario())
    assert ran == [1]
    assert reported == ["ValueError('boom')"]


@needs_eventfd
def test_the_eventfd_is_closed_once_nothing_can_post_to_it() -> None:
    import gc
    import os

    from sm_payloads.server import _Wakeup

    loop = asyncio.new_event_loop()
    w = _Wakeup(loop)
    fd = w.fd
    os.fstat(fd)  # open
    loop.close()  # a closed loop drops its readers
    del w
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_answers_come_back_without_eventfd_or_reader_support(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the loop cannot watch a file descriptor (Windows' proactor loop) or there is no
    eventfd, the threads hand their results back with call_soon_threadsafe."""
    import os

    from sm_payloads import server

    class NoReader:  # what _Wakeup meets on a loop that cannot watch a file descriptor
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            raise NotImplementedError

    monkeypatch.setattr(server, "_Wakeup", NoReader)
    app = asgi_app(score, env={})
    assert got(post(app, b"1,2\n3,4.5\n", CSV, JSON)) == (
        200,
        JSON,
        b'{"predictions":[{"score":3.0},{"score":7.5}]}',
    )
    assert app.pool._wakeup is None  # type: ignore[attr-defined]
    monkeypatch.delattr(os, "eventfd", raising=False)
    app = asgi_app(score, env={})
    assert got(post(app, b"1,2\n", CSV, JSON)) == (200, JSON, b'{"predictions":[{"score":3.0}]}')
    assert app.pool._wakeup is None  # type: ignore[attr-defined]


@needs_eventfd
def test_an_app_answers_on_one_loop_after_another() -> None:
    app = asgi_app(score, env={})
    first = None
    for _ in range(3):  # each post() runs its own event loop
        assert got(post(app, b"1,2\n", CSV, JSON)) == (200, JSON, b'{"predictions":[{"score":3.0}]}')
        w = app.pool._wakeup  # type: ignore[attr-defined]
        assert w is not None and w is not first  # a new loop: a new way back, the old one let go
        first = w


# -- async def predict -------------------------------------------------------------------


async def ascore(batch: smp.RecordBatch) -> smp.RecordBatch:
    return score(batch)


def test_an_async_predict_is_awaited_on_the_event_loop() -> None:
    threads: list[int] = []

    async def model(batch: smp.RecordBatch) -> smp.RecordBatch:
        threads.append(threading.get_ident())
        await asyncio.sleep(0)  # it may await: it runs in the request's task
        return score(batch)

    app = asgi_app(model, env={})

    async def scenario() -> tuple[Reply, int]:
        r = await call(
            app, "POST", "/invocations", [b"1,2\n3,4.5\n"], [("content-type", CSV), ("accept", JSON)]
        )
        return r, threading.get_ident()

    r, loop_thread = asyncio.run(scenario())
    assert got(r) == (200, JSON, b'{"predictions":[{"score":3.0},{"score":7.5}]}')
    assert threads == [loop_thread]
    assert app.pool._threads == []  # type: ignore[attr-defined]  # no prediction thread started
    assert r.reads == 1  # no watch for the client going away: the request never waits


@pytest.mark.parametrize(
    ("body", "ct", "accept"),
    [
        (b"1,2\n3,4.5\n", CSV, JSON),
        (b"1,2\n", CSV, None),
        (b"[[1, 2], [3, 4]]", JSON, CSV),
        (b"", CSV, None),  # 400
        (b"1,2\n", "image/png", None),  # 415
        (b"1,2\n", CSV, "image/png"),  # 406
        (b"1,x\n", CSV, None),  # 400
    ],
)
def test_an_async_predict_answers_as_a_plain_one(body: bytes, ct: str, accept: str | None) -> None:
    assert got(post(asgi_app(ascore, env={}), body, ct, accept)) == got(
        post(asgi_app(score, env={}), body, ct, accept)
    )


@pytest.mark.parametrize("raised", [ValueError("bad weights"), SystemExit(3), KeyboardInterrupt()])
def test_an_async_predict_that_raises_is_the_same_500_as_a_plain_one(
    raised: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(batch: smp.RecordBatch) -> Any:
        raise raised

    def plain(batch: smp.RecordBatch) -> Any:
        raise ValueError("bad weights")

    expected = text(500, "the model failed to produce a prediction (see the container log)")
    assert got(post(asgi_app(broken, env={}), b"1,2\n", CSV, JSON)) == expected
    assert got(post(asgi_app(plain, env={}), b"1,2\n", CSV, JSON)) == expected
    assert "the predict function raised" in caplog.text
    assert type(raised).__name__ in caplog.text


def test_an_async_predict_past_the_timeout_is_504_and_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def slow(batch: smp.RecordBatch) -> smp.RecordBatch:
        if batch.to_numpy()[0, 0] == -1:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
        return score(batch)

    app = asgi_app(slow, env={}, timeout_s=0.2)
    t0 = time.monotonic()
    r = post(app, b"-1,2\n", CSV, JSON)
    assert got(r) == text(504, "the prediction did not finish within the timeout of 0.2 s")
    assert 0.2 <= time.monotonic() - t0 < 5
    assert seen == ["cancelled"]
    assert "504: the request was not answered within 0.2 s; its predict was cancelled" in caplog.text
    # The worker stays usable, and nothing counts as overdue (no thread runs on).
    assert got(post(app, b"1,2\n", CSV, JSON)) == (200, JSON, b'{"predictions":[{"score":3.0}]}')
    assert app.pool.overdue == 0  # type: ignore[attr-defined]
    assert got(asyncio.run(call(app, "GET", "/ping"))) == (200, TEXT, b"")


def test_an_async_predict_that_swallows_the_cancellation_is_still_504() -> None:
    async def stubborn(batch: smp.RecordBatch) -> smp.RecordBatch:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        return score(batch)

    r = post(asgi_app(stubborn, env={}, timeout_s=0.2), b"1,2\n", CSV, JSON)
    assert got(r) == text(504, "the prediction did not finish within the timeout of 0.2 s")


def test_an_async_predict_that_blocks_the_loop_past_the_timeout_is_504() -> None:
    async def blocking(batch: smp.RecordBatch) -> smp.RecordBatch:
        time.sleep(0.3)  # the timer cannot run meanwhile
        return score(batch)

    r = post(asgi_app(blocking, env={}, timeout_s=0.2), b"1,2\n", CSV, JSON)
    assert got(r) == text(504, "the prediction did not finish within the timeout of 0.2 s")


def test_a_cancelled_request_with_an_async_predict_stays_cancelled() -> None:
    """A cancellation that is not the timeout's (the server shutting down) goes through."""
    started = asyncio.Event()

    async def slow(batch: smp.RecordBatch) -> smp.RecordBatch:
        started.set()
        await asyncio.sleep(30)
        return score(batch)

    app = asgi_app(slow, env={}, timeout_s=10)

    async def scenario() -> None:
        task = asyncio.ensure_future(
            call(app, "POST", "/invocations", [b"1,2\n"], [("content-type", CSV), ("content-length", "4")])
        )
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_an_async_predict_gets_large_bodies_decoded_on_a_thread() -> None:
    """Bodies over INLINE_BYTES are decoded and their answers written on a prediction thread;
    the predict itself is still awaited on the loop."""
    from sm_payloads import server

    where: dict[str, list[str]] = {"prepare": [], "respond": [], "predict": []}

    async def model(batch: smp.RecordBatch) -> smp.RecordBatch:
        where["predict"].append(threading.current_thread().name)
        return score(batch)

    app = asgi_app(model, env={})
    handler = app.handler  # type: ignore[attr-defined]
    prepare, respond = handler.prepare, handler.respond

    def traced_prepare(*a: Any) -> Any:
        where["prepare"].append(threading.current_thread().name)
        return prepare(*a)

    def traced_respond(*a: Any) -> Any:
        where["respond"].append(threading.current_thread().name)
        return respond(*a)

    handler.prepare, handler.respond = traced_prepare, traced_respond
    X = np.arange(6000, dtype=np.float64).reshape(3000, 2)
    large = "".join(f"{a:g},{b:g}\n" for a, b in X).encode()
    assert len(large) > server.INLINE_BYTES
    r = post(app, large, CSV, CSV)
    assert r.status == 200
    assert r.body == "".join(f"{float(a + b)!r}\n" for a, b in X).encode()
    main = threading.main_thread().name
    assert where["predict"] == [main]
    assert [re.fullmatch(r"sm-payloads-\d+", n) is not None for n in where["prepare"] + where["respond"]] == [
        True,
        True,
    ]
    for w in where.values():
        w.clear()
    assert got(post(app, b"1,2\n", CSV, CSV)) == (200, CSV, b"3.0\n")
    assert where == {"prepare": [main], "respond": [main], "predict": [main]}


def test_an_async_predict_with_a_large_answer_writes_it_on_a_thread() -> None:
    names: list[str] = []

    async def wide(batch: smp.RecordBatch) -> np.ndarray:
        return np.ones((len(batch), 10000), np.float64)  # 80 kB per record

    app = asgi_app(wide, env={})
    respond = app.handler.respond  # type: ignore[attr-defined]

    def traced(*a: Any) -> Any:
        names.append(threading.current_thread().name)
        return respond(*a)

    app.handler.respond = traced  # type: ignore[attr-defined]
    r = post(app, b"1,2\n", CSV, NPY)
    assert r.status == 200
    assert np.array_equal(np.load(__import__("io").BytesIO(r.body)), np.ones((1, 10000)))
    assert len(names) == 1 and re.fullmatch(r"sm-payloads-\d+", names[0])


def test_small_answer() -> None:
    from sm_payloads.server import _small_answer

    assert _small_answer(np.zeros(8192, np.float64))  # 64 KiB
    assert not _small_answer(np.zeros(8193, np.float64))
    assert _small_answer(smp.RecordBatch(label={"a": np.zeros((1, 4096)), "b": np.zeros((1, 4096))}))
    assert not _small_answer(smp.RecordBatch(label={"a": np.zeros((1, 4096)), "b": np.zeros((1, 4097))}))
    assert not _small_answer(smp.RecordBatch(features={"a": np.zeros(8193)}))
    assert not _small_answer(smp.RecordBatch(label={"a": smp.Ragged.from_lists([[1.0], [2.0, 3.0]])}))
    assert _small_answer([{"score": 1.0}] * 64)
    assert not _small_answer([{"score": 1.0}] * 65)
    assert not _small_answer("text")


def test_which_callables_are_async() -> None:
    import functools

    from sm_payloads.server import is_async_callable

    class AsyncModel:
        async def __call__(self, batch: Any) -> Any:
            return batch

    class Model:
        def __call__(self, batch: Any) -> Any:
            return batch

    assert is_async_callable(ascore)
    assert is_async_callable(functools.partial(ascore))
    assert is_async_callable(AsyncModel())
    assert not is_async_callable(score)
    assert not is_async_callable(lambda b: b)
    assert not is_async_callable(Model())
    assert not is_async_callable(functools.partial(score))
    assert not is_async_callable(AsyncModel)  # the class: calling it makes a model


def test_handle_given_an_async_predict_is_500_not_a_coroutine_left_unawaited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be one
        r = handle(b"1,2\n", CSV, JSON, ascore, env={})
    assert (r.status, r.content_type, r.body) == (
        500,
        TEXT,
        b"the model failed to produce a prediction (see the container log)\n",
    )
    assert "the predict function returned a coroutine" in caplog.text


# -- deadlines ---------------------------------------------------------------------------


def test_deadlines_fire_in_order_once_due_and_never_when_cancelled() -> None:
    from sm_payloads.server import _Deadlines

    async def scenario() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        d = _Deadlines(loop)
        fired: list[tuple[str, float]] = []
        t0 = loop.time()
        handles = {}
        for name, after in [("a", 0.05), ("b", 0.10), ("c", 0.15), ("d", 0.20)]:
            handles[name] = d.at(
                t0 + after, lambda name=name, w=t0 + after: fired.append((name, loop.time() - w))
            )
        handles["b"].cancel()
        handles["b"].cancel()  # twice: counted once
        assert d.pending == 3
        late = d.at(t0 + 0.02, lambda: fired.append(("early", loop.time() - t0 - 0.02)))  # out of order
        assert isinstance(late, asyncio.TimerHandle)
        await asyncio.sleep(0.3)
        assert d.pending == 0 and not d.queue and d.timer is None
        return fired

    fired = asyncio.run(scenario())
    assert [name for name, _ in fired] == ["early", "a", "c", "d"]
    assert all(lateness >= 0 for _, lateness in fired)  # never before its time


def test_deadlines_hold_memory_in_proportion_to_those_pending() -> None:
    """A deadline that stays pending (a slow request) at the head does not keep the many
    cancelled ones behind it."""
    from sm_payloads.server import _Deadlines

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        d = _Deadlines(loop)
        t0 = loop.time() + 60
        d.at(t0, lambda: None)  # pending throughout
        for i in range(10_000):
            d.at(t0 + i * 1e-6, lambda: None).cancel()
            assert len(d.queue) <= 2 * d.pending + 65
        assert d.pending == 1

    asyncio.run(scenario())


def test_a_deadline_callback_that_raises_is_reported_and_the_others_run() -> None:
    from sm_payloads.server import _Deadlines

    async def scenario() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        reported: list[str] = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(repr(ctx.get("exception"))))
        d = _Deadlines(loop)
        ran: list[str] = []
        t0 = loop.time()

        def boom() -> None:
            raise ValueError("boom")

        d.at(t0 + 0.01, boom)
        d.at(t0 + 0.01, lambda: ran.append("after"))
        await asyncio.sleep(0.1)
        return ran, reported

    assert asyncio.run(scenario()) == (["after"], ["ValueError('boom')"])


# -- what an app works out once -------------------------------------------------------------


def test_the_handler_remembers_headers_within_bounds() -> None:
    app = asgi_app(score, env={})
    handler = app.handler  # type: ignore[attr-defined]
    assert got(post(app, b"1,2\n", CSV, JSON)) == (200, JSON, b'{"predictions":[{"score":3.0}]}')
    assert list(handler._routes) == [(CSV, JSON)]
    long_accept = "application/json;q=0.9, " + "x/y;q=0.1, " * 10_000  # 110 kB
    assert got(post(app, b"1,2\n", CSV, long_accept)) == (200, JSON, b'{"predictions":[{"score":3.0}]}')
    assert got(post(app, b"1,2\n", CSV, "image/png")) == text(
        406, got(post(asgi_app(score, env={}), b"1,2\n", CSV, "image/png"))[2].decode().rstrip("\n")
    )
    assert list(handler._routes) == [(CSV, JSON)]  # neither the long header nor the 406
    for i in range(600):
        assert post(app, b"1,2\n", CSV, f"application/json;v={i}").status == 200
    assert len(handler._routes) <= 256


def test_a_codec_registered_after_the_app_is_made_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from sm_payloads import registry
    from sm_payloads.formats.csv import CsvCodec

    @dataclasses.dataclass(frozen=True)
    class Doubled(CsvCodec):  # type: ignore[misc]
        def decode(self, body: Any) -> smp.RecordBatch:
            return smp.RecordBatch({"values": super().decode(body).to_numpy() * 2})

    app = asgi_app(score, env={})
    assert post(app, b"1,2\n", "text/x-mine", CSV).status == 415
    assert got(post(app, b"1,2\n", CSV, CSV)) == (200, CSV, b"3.0\n")  # remembered
    monkeypatch.setitem(registry.CODECS, "text/csv", Doubled)
    assert got(post(app, b"1,2\n", CSV, CSV)) == (200, CSV, b"6.0\n")
    monkeypatch.setitem(registry.CODECS, "text/x-mine", CsvCodec)
    assert got(post(app, b"1,2\n", "text/x-mine", CSV)) == (200, CSV, b"3.0\n")


def test_the_content_type_headers_kept_are_bounded() -> None:
    from sm_payloads import server

    app = asgi_app(score, env={})
    long_param = "x" * 100_000
    r = post(app, b"1,2\n", CSV, f"application/json; v={long_param}")
    assert got(r) == (200, f"application/json; v={long_param}", b'{"predictions":[{"score":3.0}]}')
    assert not any(len(k) > 256 for k in server._CONTENT_TYPES)
    for i in range(300):
        assert post(app, b"1,2\n", CSV, f"application/json; v={i}").status == 200
    assert len(server._CONTENT_TYPES) <= 256


# -- the prediction threads ----------------------------------------------------------------


def test_requests_one_at_a_time_run_on_one_thread() -> None:
    names: list[str] = []

    def model(batch: smp.RecordBatch) -> smp.RecordBatch:
        names.append(threading.current_thread().name)
        return score(batch)

    app = asgi_app(model, env={}, max_concurrency=4)

    async def scenario() -> None:
        for _ in range(20):
            r = await call(app, "POST", "/invocations", [b"1,2\n"], [("content-type", CSV), ("accept", CSV)])
            assert got(r) == (200, CSV, b"3.0\n")

    asyncio.run(scenario())
    assert names == ["sm-payloads-0"] * 20
    assert len(app.pool._threads) == 1  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(1, 4),
    durations=st.lists(st.sampled_from([0.0, 0.0005, 0.002]), min_size=1, max_size=24),
)
def test_the_pool_runs_every_call_at_most_size_at_once(size: int, durations: list[float]) -> None:
    """Calls submitted at once (more than `size`: they wait for a slot) all run, each once,
    never more than `size` at a time, on at most `size` threads."""
    from sm_payloads.server import _Pool

    pool = _Pool(size, 1000)
    lock = threading.Lock()
    running = [0, 0]  # now, most
    ran: list[int] = []

    def call_(i: int, d: float) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(d)
        with lock:
            running[0] -= 1
            ran.append(i)
        return i

    async def scenario() -> list[int]:
        return list(
            await asyncio.gather(
                *(pool.run(lambda i=i, d=d: call_(i, d), math.inf) for i, d in enumerate(durations))
            )
        )

    results = asyncio.run(scenario())
    assert results == list(range(len(durations)))
    assert sorted(ran) == list(range(len(durations)))
    assert running[1] <= size
    assert len(pool._threads) <= size
    assert pool.running == 0
    end = time.monotonic() + 5  # a thread counts as finishing until it looks for more work
    while pool._finishing and time.monotonic() < end:
        time.sleep(0.001)
    assert pool._finishing == 0 and not pool._queued
    pool.close()


def test_closed_pool_threads_exit_after_their_calls() -> None:
    from sm_payloads.server import _Pool

    pool = _Pool(2, 16)
    release = threading.Event()

    async def scenario() -> list[str]:
        slow = asyncio.ensure_future(pool.run(lambda: (release.wait(10), "slow")[1], math.inf))
        assert await pool.run(lambda: "quick", math.inf) == "quick"
        threads = list(pool._threads)
        pool.close()  # the idle thread exits now, the busy one after its call
        release.set()
        assert await slow == "slow"
        for t in threads:
            t.join(5)
            assert not t.is_alive()
        # A call after close starts a new thread.
        return [await pool.run(lambda: threading.current_thread().name, math.inf)]

    assert asyncio.run(scenario()) == ["sm-payloads-0"]
