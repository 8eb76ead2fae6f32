"""The server's per-request machinery of issue #21's cost work: the one pass over the usual
request's headers (against the careful pass), the prediction pool's line of waiting calls
(one deadline for the wait and the call, the slot handed on by the loop, a client that went
away passing its turn on) and the question "has the client gone?" asked without waiting.

The ASGI app is driven directly (hand-made receive / send, no socket); expected bodies are
written out here."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.server import _GONE, _Busy, _client_gone, _Pool, asgi_app

CSV = "text/csv"
TEXT = "text/plain; charset=utf-8"


def score(batch: smp.RecordBatch) -> smp.RecordBatch:
    return smp.RecordBatch(label={"score": batch.to_numpy().astype(np.float64).sum(axis=1)})


@dataclass
class Reply:
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    reads: int = 0


async def call(
    app: Any, headers: list[tuple[bytes, bytes]], body: bytes, *, gone_after: int | None = None
) -> Reply:
    """POST /invocations with exactly these header bytes and one body message; after it the
    client stays (receive() waits) unless `gone_after` reads were made (http.disconnect)."""
    reply = Reply()

    async def receive() -> dict[str, Any]:
        i = reply.reads
        reply.reads += 1
        if gone_after is not None and i >= gone_after:
            return {"type": "http.disconnect"}
        if i >= 1:
            await asyncio.Event().wait()
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = list(message["headers"])
        else:
            reply.body += message["body"]

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": headers}
    await app(scope, receive, send)
    return reply


def csv_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/csv"), (b"accept", b"text/csv"), (b"content-length", b"%d" % len(body))]


# -- the headers: the one pass and the careful pass agree ------------------------------

NAMES = st.sampled_from(
    [b"content-type", b"accept", b"content-length", b"transfer-encoding", b"host", b"x-amzn-trace-id", b"1"]
)
VALUES = st.sampled_from(
    [
        b"text/csv",
        b"application/json",
        b"*/*",
        b"text/csv; charset=utf-8",
        b"image/png",
        b"",
        b"4",
        b"04",
        b"5",
        b" 4",
        b"4, 4",
        b"4,5",
        b"-4",
        b"abc",
        b"chunked",
        b"\xe9",
    ]
)


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(NAMES, VALUES), max_size=6))
def test_the_usual_headers_pass_answers_as_the_careful_pass(headers: list[tuple[bytes, bytes]]) -> None:
    """Header names in lower case take the one pass (`invocations`) unless a name repeats,
    a Transfer-Encoding comes or a length is not plain digits; a name with a capital letter
    sends the request through the careful pass (`_framing`). Both read the same request:
    the answers are the same bytes. The body is "1,2\\n" (4 bytes), so a Content-Length of 4
    (or "04") is right and any other number is the 400 of a body of another length."""
    app = asgi_app(score, env={})
    body = b"1,2\n"
    usual = asyncio.run(call(app, list(headers), body))
    careful = asyncio.run(call(app, [*headers, (b"X-Careful", b"1")], body))
    assert (usual.status, usual.headers, usual.body) == (careful.status, careful.headers, careful.body)


def test_the_careful_pass_reads_names_in_any_case() -> None:
    app = asgi_app(score, env={})
    headers = [(b"Content-Type", b"text/csv"), (b"ACCEPT", b"text/csv"), (b"Content-Length", b"4")]
    r = asyncio.run(call(app, headers, b"1,2\n"))
    assert (r.status, r.body) == (200, b"3.0\n")
    assert r.headers == [(b"content-type", b"text/csv"), (b"content-length", b"4")]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        # repeated Content-Type values are joined: "text/csv, text/csv" is no media type
        (
            [(b"content-type", b"text/csv"), (b"content-type", b"text/csv"), (b"content-length", b"4")],
            415,
            None,
        ),
        (
            [(b"content-type", b"text/csv"), (b"content-length", b"4"), (b"content-length", b"4")],
            200,
            b"3.0\n",
        ),
        ([(b"content-type", b"text/csv"), (b"content-length", b"4, 4")], 200, b"3.0\n"),
        (
            [(b"content-type", b"text/csv"), (b"content-length", b"4"), (b"content-length", b"5")],
            400,
            b"malformed Content-Length '4, 5'\n",
        ),
        (
            [(b"content-type", b"text/csv"), (b"content-length", b"4"), (b"transfer-encoding", b"chunked")],
            400,
            b"both Transfer-Encoding and Content-Length\n",
        ),
        (
            [(b"content-type", b"text/csv"), (b"content-length", b"+4")],
            400,
            b"malformed Content-Length '+4'\n",
        ),
        ([(b"content-type", b"text/csv"), (b"content-length", b"")], 400, b"malformed Content-Length ''\n"),
        ([(b"content-type", b"text/csv")], 200, b"3.0\n"),
    ],
)
def test_headers_off_the_usual_pass(
    headers: list[tuple[bytes, bytes]], status: int, body: bytes | None
) -> None:
    r = asyncio.run(call(asgi_app(score, env={}), headers, b"1,2\n"))
    assert r.status == status
    if body is not None:
        assert r.body == body


# -- the timeout: a slow predict is 504, and the worker stays usable ---------------------


def _blocking_predict() -> tuple[
    threading.Event, threading.Event, Callable[[smp.RecordBatch], smp.RecordBatch]
]:
    """(entered, release, predict): `predict` scores a batch; one whose first value is
    negative sets `entered` and waits for `release` first."""
    entered, release = threading.Event(), threading.Event()

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        if float(b.to_numpy()[0, 0]) < 0:
            entered.set()
            assert release.wait(10)
        return score(b)

    return entered, release, predict


def test_a_slow_predict_is_504_and_its_thread_serves_again_once_it_returns() -> None:
    entered, release, predict = _blocking_predict()

    app = asgi_app(predict, env={}, max_concurrency=1, timeout_s=0.2)

    async def scenario() -> tuple[Reply, Reply, Reply]:
        slow = await call(app, csv_headers(b"-1,5\n"), b"-1,5\n")
        assert entered.is_set()
        # its thread still runs the overdue prediction: the worker answers nothing (Rule 3)
        wedged = await call(app, csv_headers(b"1,2\n"), b"1,2\n")
        release.set()
        while app.pool.overdue:  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)
        after = await call(app, csv_headers(b"1,2\n"), b"1,2\n")
        return slow, wedged, after

    slow, wedged, after = asyncio.run(scenario())
    assert (slow.status, slow.body) == (504, b"the prediction did not finish within the timeout of 0.2 s\n")
    assert (wedged.status, wedged.body) == (
        503,
        b"all 1 prediction thread still run predictions that timed out (see the container log)\n",
    )
    assert (after.status, after.body) == (200, b"3.0\n")
    assert app.pool.running == 0  # type: ignore[attr-defined]


def test_requests_that_wait_past_the_deadline_are_503_and_leave_the_line() -> None:
    entered, release, predict = _blocking_predict()

    app = asgi_app(predict, env={}, max_concurrency=1, timeout_s=0.3)

    async def scenario() -> tuple[Reply, list[Reply], int, Reply]:
        blocker = asyncio.ensure_future(call(app, csv_headers(b"-1,5\n"), b"-1,5\n"))
        while not entered.is_set():
            await asyncio.sleep(0.001)
        waiters = await asyncio.gather(
            *(call(app, csv_headers(b"%d,1\n" % i), b"%d,1\n" % i) for i in range(3))
        )
        line = len(app.pool._waiters)  # type: ignore[attr-defined]
        release.set()
        while app.pool.overdue:  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)
        return await blocker, waiters, line, await call(app, csv_headers(b"1,2\n"), b"1,2\n")

    blocker, waiters, line, after = asyncio.run(scenario())
    assert (blocker.status, blocker.body) == (
        504,
        b"the prediction did not finish within the timeout of 0.3 s\n",
    )
    assert [(w.status, w.body) for w in waiters] == [
        (503, b"the server is busy (no thread became free in time); try again\n")
    ] * 3
    assert line == 0
    assert (after.status, after.body) == (200, b"3.0\n")
    assert app.pool.running == 0  # type: ignore[attr-defined]


# -- the pool's line ------------------------------------------------------------------


def _blocked_work() -> tuple[threading.Event, list[str], Callable[[str], str]]:
    """(release, ran, work): `work(name)` records the calls that ran; "blocker" waits for
    `release` first."""
    release = threading.Event()
    ran: list[str] = []

    def work(name: str) -> str:
        if name == "blocker":
            assert release.wait(10)
        ran.append(name)
        return name

    return release, ran, work


def test_a_waiting_call_whose_client_went_away_passes_its_turn_on() -> None:
    pool = _Pool(1, 8)
    release, ran, work = _blocked_work()

    async def scenario() -> list[Any]:
        blocker = asyncio.ensure_future(pool.run(lambda: work("blocker"), math.inf))
        await asyncio.sleep(0.01)
        asked: list[str] = []

        def gone(name: str, answer: bool) -> Any:
            return lambda: asked.append(name) or answer

        left = asyncio.ensure_future(pool.run(lambda: work("left"), math.inf, None, gone("left", True)))
        stays = asyncio.ensure_future(pool.run(lambda: work("stays"), math.inf, None, gone("stays", False)))
        await asyncio.sleep(0.01)
        assert asked == []  # asked only when the turn comes
        release.set()
        results = [await blocker, await left, await stays]
        assert asked == ["left", "stays"]
        return results

    assert asyncio.run(scenario()) == ["blocker", _GONE, "stays"]
    assert ran == ["blocker", "stays"]
    assert pool.running == 0 and not pool._waiters
    pool.close()


def test_a_cancelled_waiting_call_leaves_the_line_and_never_runs() -> None:
    pool = _Pool(1, 8)
    release, ran, work = _blocked_work()

    async def scenario() -> list[str]:
        blocker = asyncio.ensure_future(pool.run(lambda: work("blocker"), math.inf))
        await asyncio.sleep(0.01)
        cancelled = asyncio.ensure_future(pool.run(lambda: work("cancelled"), math.inf))
        after = asyncio.ensure_future(pool.run(lambda: work("after"), math.inf))
        await asyncio.sleep(0.01)
        assert len(pool._waiters) == 2
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert len(pool._waiters) == 1
        release.set()
        return [await blocker, await after]

    assert asyncio.run(scenario()) == ["blocker", "after"]
    assert ran == ["blocker", "after"]
    assert pool.running == 0 and not pool._waiters
    pool.close()


def test_a_full_line_is_busy_at_once() -> None:
    pool = _Pool(1, 2)
    release = threading.Event()

    async def scenario() -> str:
        blocker = asyncio.ensure_future(pool.run(lambda: release.wait(10), math.inf))
        await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(pool.run(lambda: None, math.inf)) for _ in range(2)]
        await asyncio.sleep(0.01)
        with pytest.raises(_Busy) as e:
            await pool.run(lambda: None, math.inf)
        release.set()
        await blocker
        await asyncio.gather(*waiting)
        return str(e.value)

    assert asyncio.run(scenario()) == "1 requests are running and 2 are waiting"
    assert pool.running == 0
    pool.close()


def test_a_thread_that_cannot_start_frees_its_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    app = asgi_app(score, env={}, max_concurrency=1)
    pool = app.pool  # type: ignore[attr-defined]
    dispatch = pool._dispatch
    failures = [RuntimeError("can't start new thread")]

    def flaky(job: Any) -> None:
        if failures:
            raise failures.pop()
        dispatch(job)

    monkeypatch.setattr(pool, "_dispatch", flaky)
    failed = asyncio.run(call(app, csv_headers(b"1,2\n"), b"1,2\n"))
    assert (failed.status, failed.body) == (
        500,
        b"the server failed to handle the request (see the container log)\n",
    )
    assert pool.running == 0
    ok = asyncio.run(call(app, csv_headers(b"1,2\n"), b"1,2\n"))
    assert (ok.status, ok.body) == (200, b"3.0\n")


def test_a_request_whose_client_left_while_waiting_reads_twice_and_sends_nothing() -> None:
    entered, release = threading.Event(), threading.Event()
    seen: list[float] = []

    def predict(b: smp.RecordBatch) -> smp.RecordBatch:
        x = float(b.to_numpy()[0, 0])
        seen.append(x)
        if x < 0:
            entered.set()
            assert release.wait(10)
        return score(b)

    app = asgi_app(predict, env={}, max_concurrency=1)

    async def scenario() -> tuple[Reply, Reply, Reply]:
        blocker = asyncio.ensure_future(call(app, csv_headers(b"-1,0\n"), b"-1,0\n"))
        while not entered.is_set():
            await asyncio.sleep(0.001)
        left = asyncio.ensure_future(call(app, csv_headers(b"7,0\n"), b"7,0\n", gone_after=1))
        stays = asyncio.ensure_future(call(app, csv_headers(b"8,0\n"), b"8,0\n"))
        await asyncio.sleep(0.02)
        release.set()
        return await blocker, await left, await stays

    blocker, left, stays = asyncio.run(scenario())
    assert (blocker.status, blocker.reads) == (200, 1)  # a thread was free: nothing asked
    assert (left.status, left.body, left.reads) == (None, b"", 2)  # the body, then "gone?"
    assert (stays.status, stays.body, stays.reads) == (200, b"8.0\n", 2)
    assert seen == [-1.0, 8.0]


# -- "has the client gone?", asked without waiting -------------------------------------


def test_client_gone_when_receive_returns_at_once() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    assert _client_gone(receive) is True


def test_client_there_when_receive_waits_and_its_wait_is_closed() -> None:
    steps: list[str] = []

    async def scenario() -> bool:
        event = asyncio.Event()

        async def receive() -> dict[str, Any]:
            steps.append("asked")
            try:
                await event.wait()
            finally:
                steps.append("closed")
            return {"type": "http.disconnect"}

        answer = _client_gone(receive)
        assert not event._waiters  # type: ignore[attr-defined]  # the wait left nothing behind
        return answer

    assert asyncio.run(scenario()) is False
    assert steps == ["asked", "closed"]


def test_a_receive_that_raises_says_nothing_of_the_client() -> None:
    async def receive() -> dict[str, Any]:
        raise OSError("the server broke")

    assert _client_gone(receive) is False


def test_a_receive_that_is_a_future() -> None:
    async def scenario() -> list[bool]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Any]] = loop.create_future()
        done.set_result({"type": "http.disconnect"})
        pending: asyncio.Future[dict[str, Any]] = loop.create_future()
        cancelled: asyncio.Future[dict[str, Any]] = loop.create_future()
        cancelled.cancel()
        failed: asyncio.Future[dict[str, Any]] = loop.create_future()
        failed.set_exception(OSError("gone wrong"))
        return [_client_gone(lambda f=f: f) for f in (done, pending, cancelled, failed)]  # type: ignore[misc]

    assert asyncio.run(scenario()) == [True, False, False, False]
