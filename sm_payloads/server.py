"""A model server: `smp.serving.handle` behind HTTP, as an ASGI 3 application
(`asgi_app`) and as ``sm-payloads serve MODULE:CALLABLE`` on uvicorn (`serve`).

Routes: ``GET /ping`` (health), ``POST /invocations`` and ``POST
/endpoints/{name}/invocations`` (the path a boto3 ``sagemaker-runtime`` client with
``endpoint_url`` calls), ``GET /execution-parameters`` (asked by Batch Transform).
Anything else is 404, a known path with another method 405.

Rule 1 (bodies): the request body limit is ``limits.max_bytes`` when set, else
``SAGEMAKER_MAX_PAYLOAD_IN_MB`` (0: no limit), else 6 MiB. A ``Content-Length`` that is not
one decimal number is 400 (so is one beside ``Transfer-Encoding``); one over the limit is
413 before any body byte is read; a body without one (chunked) is read as it arrives and
answered 413 as soon as it passes the limit, closing the connection. A body that ends
before its ``Content-Length`` (the client went away) is never processed. An answer given
before a body the request announced is read closes the connection (see `_unread`).
Rule 2 (threads): decoding, ``predict`` and encoding run on a pool of at most
``max_concurrency`` daemon threads, never on the event loop, so ``/ping`` answers at once
while predictions run. Past ``max_concurrency``, up to 8 x ``max_concurrency`` requests
wait for a thread in arrival order; beyond that, or after waiting ``timeout_s``, the answer
is 503 with ``Retry-After: 1``. Requests still sending their bodies count with those
waiting: past 9 x ``max_concurrency`` bodies held (read, waiting or running) a request is
503 before any byte of its body is read, so a worker holds at most that many bodies.
An ``async def`` predict (`is_async_callable`) is the exception: it is awaited on the event
loop in the request's task (the user chose it; it must not block), its request decoded and
answer written there too when small (`INLINE_BYTES`, `_small_answer`), on a thread if not.
Rule 3 (timeout): a request not answered within ``timeout_s`` once its body is read is 504
and logged; its thread finishes in the background and then serves other requests, so the
worker stays usable (an async predict is cancelled instead, as ``asyncio.wait_for`` does).
While every thread runs such an overdue prediction, the worker can
answer nothing: ``/ping`` and invocations are 503 until one of them returns (SageMaker
replaces a container whose health check keeps failing). The body itself must arrive
within ``timeout_s`` of the headers, else 408 and the connection is closed (a client that
stalls or trickles its body cannot hold the connection and the bytes it sent for ever).
A request whose client goes away while it waits for a thread is dropped when its turn
comes, its prediction never run (one already running finishes; its answer goes nowhere).
Rule 4 (health): ``load()`` runs once per worker on its own thread, started at ASGI
lifespan start-up (or with the first request where the server has no lifespan). ``/ping``
is 200 once it has returned, 503 while it runs or after it raised (the traceback is
logged); invocations are 503 until then too. Without ``load``, ``/ping`` is 200 at once
(and 503 while every thread is overdue, Rule 3).
Rule 5 (answers): every status and body come from `smp.serving.handle` (see its table);
the server adds 400 (Content-Length), 404, 405, 408, 413 (body), 503 and 504, with one-line
``text/plain; charset=utf-8`` bodies. Responses carry ``Content-Length``. ``HEAD`` is
answered as ``GET`` where ``GET`` is (the server sends no body).

`serve` (the CLI's ``serve`` command) runs the app on uvicorn, which stops accepting
connections on SIGTERM, finishes the requests in flight and exits 0. This module imports
without uvicorn; only `serve` needs it (``pip install "sm_payloads[serve]"``).

>>> import asyncio, numpy as np, sm_payloads as smp
>>> app = asgi_app(lambda b: smp.RecordBatch(label={"score": b.to_numpy().sum(axis=1)}), env={})
>>> async def call(method, path, body=b"", headers=()):
...     sent, chunks = [], [{"type": "http.request", "body": body, "more_body": False}]
...     async def receive():  # after the body: wait, as a server does while the client stays
...         return chunks.pop(0) if chunks else await asyncio.Event().wait()
...     async def send(message):
...         sent.append(message)
...     scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
...     await app(scope, receive, send)
...     return sent[0]["status"], sent[1]["body"]
>>> asyncio.run(call("GET", "/ping"))
(200, b'')
>>> asyncio.run(call("POST", "/invocations", b"1,2\\n3,4\\n", [(b"content-type", b"text/csv")]))
(200, b'3.0\\n7.0\\n')
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import math
import os
import queue
import re
import sys
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, MutableMapping, Sequence
from types import CoroutineType
from typing import Any, TypeVar, cast

import numpy as np

from .limits import Limits
from .record import RecordBatch
from .serving import Handler, Predict, Prepared, Response, payload_limit, predict_failed

__all__ = ["DEFAULT_TIMEOUT_S", "asgi_app", "serve"]

log = logging.getLogger("sm_payloads.server")

#: SageMaker's invocation timeout for real-time endpoints.
DEFAULT_TIMEOUT_S = 60.0
#: Requests that may wait for a thread, per thread of the pool (Rule 2).
BACKLOG_PER_THREAD = 8

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")

_TEXT = b"text/plain; charset=utf-8"
_INVOCATIONS = re.compile(r"/(?:endpoints/[^/]+/)?invocations/?")
_DIGITS = re.compile(rb"[0-9]+")
#: What a header value may hold (RFC 9110, 5.5: VCHAR, obs-text, SP, HTAB).
_FIELD_VALUE = re.compile("[\t\x20-\x7e\x80-\xff]*")
_INSTALL = 'sm-payloads serve needs uvicorn: pip install "sm_payloads[serve]"'


def default_max_concurrency() -> int:
    """Threads per worker when ``max_concurrency`` is None: the CPUs + 4, at most 32 (as
    the standard library's thread pools)."""
    return min(32, (os.cpu_count() or 1) + 4)


class _Busy(Exception):
    """No thread became free for the request (Rule 2)."""


class _Wakeup:
    """The way back from the pool's threads to one event loop: results wait in a deque, and an
    eventfd the loop watches is written only when no wake-up is pending (several results that
    arrive before the loop runs cost one). ``call_soon_threadsafe`` does the same job with
    a write to the loop's self-pipe socket per result and two reads per wake-up; this costs
    about 6 µs less CPU per request and 20 µs less latency (Linux; elsewhere, or on a loop
    without ``add_reader``, `_Pool` uses ``call_soon_threadsafe``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.done: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self.pending = False
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            loop.add_reader(self.fd, self.drain)
        except BaseException:
            os.close(self.fd)
            raise
        # Closed once nothing can write to it any more: no thread holds a job posting here
        # and the loop no longer watches it (a closed loop drops its readers). Not at exit,
        # where a daemon thread may still post: the process's end closes it.
        weakref.finalize(self, os.close, self.fd).atexit = False

    def post(self, callback: Callable[..., None], *args: Any) -> None:
        """From any thread: `callback(*args)` soon on the loop."""
        self.done.append((callback, args))
        if not self.pending:
            self.pending = True
            with contextlib.suppress(OSError):  # only if the counter could overflow
                os.eventfd_write(self.fd, 1)

    def drain(self) -> None:
        """On the loop: run the callbacks posted so far. `pending` is cleared before the deque
        is read, so a result posted meanwhile is either drained now or writes again."""
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.fd)
        self.pending = False
        done = self.done
        while done:
            callback, args = done.popleft()
            try:
                callback(*args)
            except Exception as e:  # as the loop reports a failing call_soon callback
                self.loop.call_exception_handler({"message": "pool result callback failed", "exception": e})

    def forget(self) -> None:
        """Stop watching the eventfd (the pool moved to another loop)."""
        if not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.fd)


class _Cancellable:
    """What `_Deadlines.at` gives: a timeout that `cancel` stops (``asyncio.TimerHandle`` has
    the same method)."""

    __slots__ = ("callback", "owner", "when")

    def __init__(self, when: float, callback: Callable[[], None], owner: _Deadlines) -> None:
        self.when = when
        self.callback: Callable[[], None] | None = callback
        self.owner = owner

    def cancel(self) -> None:
        if self.callback is not None:
            self.callback = None
            self.owner.pending -= 1


class _Deadlines:
    """The timeouts of one app on one event loop. Every request's deadlines are `timeout_s`
    after a moment of its own (its headers, its body read), so they come due in the order
    they are made: one loop timer, armed for the oldest one still pending, serves them all.
    A loop timer per deadline (``call_at`` and ``cancel``) costs 2 to 5 µs of CPU each, and
    a request has two; this costs well under one (a request that waits for a thread keeps
    one deadline for the wait and the call, `_Pool.run`). A deadline made out of order (an
    async predict's large answer, written on a thread after the predict awaited) gets a
    loop timer of its own. Deadlines that were cancelled
    are dropped as the oldest ones are, and all at once when they are over half of those
    held, so memory stays proportional to the requests in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: deque[_Cancellable] = deque()
        self.pending = 0
        self.timer: asyncio.TimerHandle | None = None
        self.resolution = time.get_clock_info("monotonic").resolution

    def at(self, when: float, callback: Callable[[], None]) -> _Cancellable | asyncio.TimerHandle:
        """`callback()` on the loop at `when` (loop time) unless cancelled first."""
        queue = self.queue
        while queue and queue[0].callback is None:
            queue.popleft()
        if queue and when < queue[-1].when:
            return self.loop.call_at(when, callback)
        if len(queue) > 2 * self.pending + 64:
            self.queue = queue = deque(c for c in queue if c.callback is not None)
        entry = _Cancellable(when, callback, self)
        queue.append(entry)
        self.pending += 1
        if self.timer is None:
            self.timer = self.loop.call_at(when, self.fire)
        return entry

    def fire(self) -> None:
        """Run the callbacks that are due; arm the timer for the next one still pending."""
        self.timer = None
        end = self.loop.time() + self.resolution
        queue = self.queue
        while queue:
            entry = queue[0]
            callback = entry.callback
            if callback is None:
                queue.popleft()
                continue
            if entry.when > end:
                self.timer = self.loop.call_at(entry.when, self.fire)
                return
            queue.popleft()
            entry.cancel()
            try:
                callback()
            except Exception as e:  # as the loop reports a failing timer callback
                self.loop.call_exception_handler({"message": "deadline callback failed", "exception": e})


#: A call on a prediction thread: it runs there and returns how to hand its result back.
_Job = Callable[[], Callable[[], None]]


class _Pool:
    """At most `size` calls at once on daemon threads (a call that never returns cannot hold
    the process at exit); up to `backlog` more wait in arrival order. Its counters are only
    touched on the event loop; the threads report back through `_poster` (a `_Wakeup`, or
    ``call_soon_threadsafe`` where there is none).

    A call goes to a thread that has just handed back its result and is about to look for
    more (it is awake already: no wake-up), else to the thread that became idle last (each
    idle thread waits on an inbox of its own, on a stack); a thread is started only when
    none is idle. So a worker serving one request at a time runs every call on the same,
    warm thread. Handing each call to whichever idle thread one shared queue woke, the
    threads in turn, cost a small request 64 to 69 µs of CPU in-process; this, 50 to 53.

    A call that finds every thread busy waits in `_waiters` as a callback (`run`'s
    `start`), and the loop starts it as a thread's call finishes (`_release`): no task
    wakes for the slot, and the slot often goes to that thread while it is still awake.
    With an ``asyncio.wait_for`` on a future per waiting call, a ``receive()`` task to
    watch its client and a ``threading.Event``, a small request cost 51 to 55 µs of CPU
    in-process at 32 concurrent clients; this, 33 to 35 (echo + the same hop: 18 to 21)."""

    def __init__(self, size: int, backlog: int) -> None:
        self.size = size
        self.backlog = backlog
        self.running = 0
        #: Threads still running a call whose request was already answered 504.
        self.overdue = 0
        #: The calls waiting for a thread, each its `start` (`run`).
        self._waiters: deque[Callable[[], bool]] = deque()
        self._threads: list[threading.Thread] = []
        self._wakeup: _Wakeup | None = None
        # Shared with the threads, under _lock: the inboxes of the idle threads (the last
        # one idle on top), the calls taken while none was idle (a thread takes them before
        # it goes idle), and which threads are current (close() starts a new generation).
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._queued: deque[_Job] = deque()
        self._generation = 0
        #: Threads between handing back a result and looking for their next call.
        self._finishing = 0

    def _poster(self, loop: asyncio.AbstractEventLoop) -> Callable[..., None]:
        """How a thread hands a result back to `loop`: a `_Wakeup` where the platform and the
        loop allow it, else ``call_soon_threadsafe`` (a closed loop: the result is dropped)."""
        w = self._wakeup
        if w is not None and w.loop is loop:
            return w.post
        if w is not None:
            w.forget()
            self._wakeup = None
        if hasattr(os, "eventfd"):
            try:
                self._wakeup = _Wakeup(loop)
            except (NotImplementedError, OSError):
                pass
            else:
                return self._wakeup.post

        def post(callback: Callable[..., None], *args: Any) -> None:
            # RuntimeError: the loop has closed (shutdown); nobody waits for the answer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)

        return post

    def _worker(self, inbox: queue.SimpleQueue[_Job | None], job: _Job | None, generation: int) -> None:
        while job is not None:
            hand_back = job()
            with self._lock:
                self._finishing += 1
            try:
                hand_back()  # from here the loop may give this thread its next call
            except Exception:  # the posters drop what they cannot post; this thread must not die
                log.exception("a prediction thread could not hand its result back")
            del hand_back
            job = None
            with self._lock:
                self._finishing -= 1
                if self._queued:
                    job = self._queued.popleft()
                    continue
                if self._generation != generation:  # closed: exit once nothing is queued
                    return
                self._idle.append(inbox)
            job = inbox.get()

    def _dispatch(self, job: _Job) -> None:
        """On the loop: `job` to a thread that has handed back its result and is about to look
        for more (awake already, it needs no wake-up), else to the thread idle last, else to
        a new thread while there are fewer than `size`, else queued for the first thread to
        finish its call."""
        with self._lock:
            inbox = None
            start = False
            if len(self._queued) < self._finishing:
                self._queued.append(job)
            elif self._idle:
                inbox = self._idle.pop()
            elif len(self._threads) < self.size:
                start = True
            else:
                self._queued.append(job)
        if inbox is not None:
            inbox.put(job)
        elif start:
            t = threading.Thread(
                target=self._worker,
                args=(queue.SimpleQueue(), job, self._generation),
                name=f"sm-payloads-{len(self._threads)}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def _release(self) -> None:
        """A call finished: its slot goes to the first waiting call that takes it (one whose
        client went away passes it on, `run`), else is freed."""
        waiters = self._waiters
        while waiters:
            if waiters.popleft()():
                return
        self.running -= 1

    async def run(
        self,
        fn: Callable[[], T],
        deadline: float,
        timers: _Deadlines | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> T | Response:
        """`fn()` on a thread once one is free, calls taking turns in arrival order: its
        result. `_Busy` at once when `backlog` calls wait already, or when no thread became
        free by `deadline` (loop time); `asyncio.TimeoutError` past it once `fn` runs (its
        thread runs on, counted in `overdue`, and its result is dropped). One deadline, timed
        by `timers` when given (else a loop timer), covers the wait and the call. A call
        that waited asks `gone()` when its turn comes: if True, `fn` is never called, the
        answer is `_GONE` and the thread goes to the next call.

        A waiting call is its `start`, in `_waiters`: when a thread's call finishes, the
        loop hands its slot to the next call right there (`_release`), without waking the
        waiting request's task first, and often to that same thread, still awake."""
        if self.running < self.size and not self._waiters:
            self.running += 1
            waiting = False
        elif len(self._waiters) >= self.backlog:
            raise _Busy(f"{self.running} requests are running and {len(self._waiters)} are waiting")
        else:
            waiting = True
        loop = asyncio.get_running_loop()
        post = self._poster(loop)
        fut: asyncio.Future[T | Response] = loop.create_future()
        expired = False

        def expire() -> None:
            nonlocal expired
            if fut.done():
                return
            if waiting:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(start)
                fut.set_exception(_Busy("no thread became free in time"))
            else:
                expired = True
                self.overdue += 1
                fut.set_exception(asyncio.TimeoutError())

        def finish(result: T | None, error: BaseException | None) -> None:
            self._release()
            if expired:
                self.overdue -= 1
            if not fut.done():
                if error is None:
                    fut.set_result(result)  # type: ignore[arg-type]
                else:
                    fut.set_exception(error)

        def job() -> Callable[[], None]:
            result: T | None = None
            error: BaseException | None = None
            try:
                result = fn()
            except Exception as e:  # handed to the request, which logs it
                error = e
            except BaseException as e:
                # SystemExit, KeyboardInterrupt raised by the predict function: re-raised on
                # the event loop they would escape the app (asyncio lets them through); as
                # any other failure of the request they are a logged 500.
                error = RuntimeError(f"the request raised {type(e).__name__}: {e}")
                error.__cause__ = e
            return lambda: post(finish, result, error)

        def start() -> bool:
            """On the loop, the call's turn: True when it takes the slot, False when it
            passes it on (it was cancelled, or its client went away)."""
            nonlocal waiting
            waiting = False
            if fut.done():
                return False
            if gone is not None and gone():
                fut.set_result(_GONE)
                return False
            try:
                self._dispatch(job)
            except Exception as e:  # a thread could not be started
                fut.set_exception(e)
                return False
            return True

        if waiting:
            self._waiters.append(start)
        else:
            try:
                self._dispatch(job)
            except BaseException:
                self._release()
                raise
        timer = None
        if not math.isinf(deadline):
            # One timer, no wait_for/shield: past the deadline the answer is _Busy or a
            # TimeoutError, and the thread's result, when it comes, is dropped (finish()
            # sees fut done).
            timer = loop.call_at(deadline, expire) if timers is None else timers.at(deadline, expire)
        try:
            return await fut
        except BaseException:
            if waiting:  # cancelled while it waited: out of the line
                with contextlib.suppress(ValueError):
                    self._waiters.remove(start)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        """Threads exit once their current call (if any) and the calls queued return; calls
        submitted later start new threads."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)
        self._threads.clear()


#: What `work` returns for a request whose client went away before it started (never sent).
_GONE = Response(499, b"", "")


def _text(status: int, message: str) -> Response:
    return Response(status, (message.rstrip("\n") + "\n").encode("utf-8", "replace"), _TEXT.decode())


class _App:
    def __init__(
        self,
        predict: Predict,
        env: Mapping[str, str] | None,
        offered: Sequence[str] | None,
        limits: Limits | None,
        max_concurrency: int | None,
        load: Callable[[], object] | None,
        timeout_s: float | None,
    ) -> None:
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency must be a positive int or None, got {max_concurrency!r}")
        if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number of seconds or None, got {timeout_s!r}")
        self.predict = predict
        self.env = dict(os.environ if env is None else env)
        self.offered = None if offered is None else list(offered)
        self.limits = limits
        self.timeout_s = timeout_s
        self.load = load
        if limits is not None and limits.max_bytes is not None:
            self.max_bytes: int | None = limits.max_bytes
        else:
            self.max_bytes = payload_limit(self.env, None)
        # What every request shares, worked out once: limits, offered types, and the codec
        # and answer type of each pair of Content-Type and Accept values seen (bounded).
        self.handler = Handler(
            predict, self.env, max_payload_bytes=self.max_bytes, offered=offered, limits=limits
        )
        #: An ``async def`` predict is awaited on the event loop (Rule 2).
        self.is_async = is_async_callable(predict)
        size = max_concurrency if max_concurrency is not None else default_max_concurrency()
        self.pool = _Pool(size, BACKLOG_PER_THREAD * size)
        # Requests whose bodies are being read: admitted only while the bodies held (being
        # read, waiting for a thread, on a thread) stay within the pool's size + backlog.
        self.reading = 0
        # "loading", "ready" or "failed"; None until loading starts.
        self.state: str | None = None if load is not None else "ready"
        self._timers: _Deadlines | None = None

    def timers(self, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        """The deadlines of the requests on `loop` (an app may serve on several loops in
        turn, as in tests; each keeps its own)."""
        t = self._timers
        if t is None or t.loop is not loop:
            t = self._timers = _Deadlines(loop)
        return t

    # -- health ------------------------------------------------------------------------

    def start_loading(self) -> None:
        if self.state is not None or self.load is None:
            return
        self.state = "loading"
        load = self.load

        def run() -> None:
            start = time.monotonic()
            try:
                load()
            except BaseException:
                log.exception("the load function raised: /ping answers 503")
                self.state = "failed"
                return
            log.info("the model loaded in %.3f s", time.monotonic() - start)
            self.state = "ready"

        threading.Thread(target=run, name="sm-payloads-load", daemon=True).start()

    def unready(self) -> Response | None:
        if self.state == "ready":
            return None if self.pool.overdue < self.pool.size else self.wedged()
        if self.state == "failed":
            return _text(503, "the model failed to load (see the container log)")
        return _text(503, "the model is loading")

    def wedged(self) -> Response:
        """Every thread runs a prediction whose request timed out: the worker can answer
        nothing more until one returns, and may never; 503 lets SageMaker replace it."""
        n = self.pool.size
        return _text(
            503,
            f"all {n} prediction thread{'s' if n != 1 else ''} still run predictions that timed out "
            "(see the container log)",
        )

    def execution_parameters(self) -> Response:
        env = self.env
        per_worker = self.pool.size
        workers = env.get("SM_PAYLOADS_WORKERS", "1")
        n = per_worker * (int(workers) if workers.isdecimal() and int(workers) > 0 else 1)
        configured = env.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "")
        if configured.isdecimal() and int(configured) > 0:
            n = int(configured)
        strategy = env.get("SAGEMAKER_BATCH_STRATEGY", "").replace("_", "").upper()
        batch = "SINGLE_RECORD" if strategy == "SINGLERECORD" else "MULTI_RECORD"
        mb = 0 if self.max_bytes is None else max(1, self.max_bytes // 2**20)
        body = json.dumps({"MaxConcurrentTransforms": n, "BatchStrategy": batch, "MaxPayloadInMB": mb})
        return Response(200, body.encode(), "application/json")

    # -- ASGI --------------------------------------------------------------------------

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every call but the usual ``POST /invocations`` once loading has begun (`invocations`
        takes that one itself)."""
        kind = scope["type"]
        if kind == "http":
            if self.state is None:
                self.start_loading()
            if scope["path"] == "/invocations" and scope["method"] == "POST":
                await self.invocations(scope, receive, send, routed=True)
            else:
                await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_loading()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        # Every answer here comes before the request's body (if any) is read: see _unread.
        if path in ("/ping", "/ping/"):
            if method not in ("GET", "HEAD"):
                await _send(send, _text(405, f"{method} {path}: use GET"), allow=b"GET", close=_unread(scope))
            else:
                r = self.unready() or Response(200, b"", _TEXT.decode())
                await _send(send, r, close=_unread(scope))
        elif path == "/execution-parameters":
            if method not in ("GET", "HEAD"):
                await _send(send, _text(405, f"{method} {path}: use GET"), allow=b"GET", close=_unread(scope))
            else:
                await _send(send, self.execution_parameters(), close=_unread(scope))
        elif _INVOCATIONS.fullmatch(path):
            if method != "POST":
                r = _text(405, f"{method} {path}: use POST")
                await _send(send, r, allow=b"POST", close=_unread(scope))
            else:
                await self.invocations(scope, receive, send, routed=True)
        else:
            r = _text(404, f"no route {path}: use GET /ping or POST /invocations")
            await _send(send, r, close=_unread(scope))

    async def read_body(
        self,
        receive: Receive,
        limit: int | None,
        first: tuple[Message | None, Awaitable[Message] | None] | None = None,
    ) -> bytes | bytearray | Response | None:
        """The body as it arrives: the bytes; a 413 once past `limit`; a 408 when it is not
        complete within ``timeout_s``; None when the client went away. Sends nothing, so the
        read deadline (a timeout that cancels this task, cheaper than a wait_for per
        message) can only interrupt a ``receive()``. A body that comes in one message is
        returned as it came (no copy); one that is there already (the server read it with
        the headers, as small bodies are) is taken without waiting, so it needs no deadline
        (`_body_now`). `first`: the first ``receive()`` begun already (`_now_or_later`)."""
        message, waiting = _now_or_later(receive()) if first is None else first
        now = _body_now(message, limit)
        if now is not None:
            return now
        body: bytes | bytearray = b""
        loop = asyncio.get_running_loop()
        expiry = _Expiry()
        timer = None
        if self.timeout_s is not None and expiry.task is not None:
            timer = self.timers(loop).at(loop.time() + self.timeout_s, expiry)
        try:
            while True:
                if message is None:
                    message = await (receive() if waiting is None else waiting)
                    waiting = None
                if message["type"] != "http.request":
                    return None
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                message = None
                if not body and not more and type(chunk) is bytes:
                    body = chunk  # the whole body in one message
                else:
                    if type(body) is bytes:
                        body = bytearray(body)
                    body += chunk
                if limit is not None and len(body) > limit:
                    text = f"request body exceeds the limit of {limit} bytes ({len(body)} bytes received)"
                    return _text(413, text)
                if not more:
                    return body
        except asyncio.CancelledError:
            if not expiry.expired:
                raise
            expiry.handled()
            log.warning("408: the request body did not arrive within %s s", self.timeout_s)
            text = (
                f"the request body did not arrive within the timeout of {self.timeout_s:g} s "
                f"({len(body)} bytes received)"
            )
            return _text(408, text)
        finally:
            if timer is not None:
                timer.cancel()
            close = getattr(waiting, "close", None)
            if close is not None:
                close()  # a receive() begun and not awaited to its end (a cancellation)

    async def invocations(self, scope: Scope, receive: Receive, send: Send, *, routed: bool = False) -> None:
        """The app itself (`__call__`): a ``POST /invocations`` is answered here, with no
        coroutine between the server and the answer but an async predict's; any other call
        (`routed` False) goes to `dispatch`, which routes it (back here for an invocation)."""
        if not routed and (
            scope["type"] != "http"
            or scope["path"] != "/invocations"
            or scope["method"] != "POST"
            or self.state is None
        ):
            await self.dispatch(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        # The usual request in one pass: Content-Type, Accept and Content-Length each at most
        # once, every name in lower case (as ASGI servers give them), no Transfer-Encoding,
        # the length plain digits. Any other request is read by `_framing`, the careful pass
        # (a test client may send names in other cases; repeated headers are joined).
        content_type_v = accept_v = length_v = None
        usual = True
        for k, v in headers:
            if k == b"content-type":
                usual = usual and content_type_v is None
                content_type_v = v
            elif k == b"accept":
                usual = usual and accept_v is None
                accept_v = v
            elif k == b"content-length":
                usual = usual and length_v is None
                length_v = v
            elif k == b"transfer-encoding" or not k.islower():
                usual = False
        length: int | None
        content_type: str | None
        accept: str | None
        if usual and (length_v is None or length_v.isdigit()):
            length = None if length_v is None else int(length_v)
            content_type = None if content_type_v is None else content_type_v.decode("latin-1")
            accept = None if accept_v is None else accept_v.decode("latin-1")
        else:
            framing = _framing(headers)
            if isinstance(framing, Response):
                await _send(send, framing, close=True)
                return
            length, content_type, accept = framing
        limit = self.max_bytes
        if length is not None and limit is not None and length > limit:
            # Answered before reading: with Expect: 100-continue the body is never sent.
            text = f"request body of {length} bytes exceeds the limit of {limit} bytes"
            await _send(send, _text(413, text), close=True)
            return
        pool = self.pool
        if (self.state != "ready" or pool.overdue >= pool.size) and (not_ready := self.unready()):
            await _send(send, not_ready, close=_unread(scope))
            return

        held = pool.running + len(pool._waiters) + self.reading
        if held >= pool.size + pool.backlog:  # answered before reading: the body is never held
            busy = f"{pool.running} requests are running and {len(pool._waiters)} are waiting"
            if self.reading:
                busy += f", {self.reading} sending their bodies"
            log.warning("503: no room for the request (%s)", busy)
            r = _text(503, f"the server is busy ({busy}); try again")
            await _send(send, r, retry_after=b"1", close=_unread(scope))
            return
        # The body: a small one comes with the headers, and the first receive() returns it
        # without waiting (stepped here as `_now_or_later` does: no wait, no deadline, no
        # count); any other is read as it arrives (`read_body`), counted with those held.
        pending = receive()
        message: Message | None = None
        waiting: Awaitable[Message] | None = None
        if type(pending) is CoroutineType:
            try:
                step = pending.send(None)
            except StopIteration as stop:
                message = stop.value
            else:
                waiting = _rest(pending, step)
        else:
            waiting = pending
        read: bytes | bytearray | Response | None = _body_now(message, limit)
        if read is None:
            self.reading += 1
            try:
                read = await self.read_body(receive, limit, (message, waiting))
            finally:
                self.reading -= 1
        if read is None:  # http.disconnect: never processed
            return
        if isinstance(read, Response):
            await _send(send, read, close=True)
            return
        body = read
        if length is not None and len(body) != length:
            text = f"request body of {len(body)} bytes, but Content-Length says {length}"
            await _send(send, _text(400, text), close=True)
            return

        loop = asyncio.get_running_loop()
        deadline = math.inf if self.timeout_s is None else loop.time() + self.timeout_s
        try:
            if self.is_async:
                now = self.answer_async(body, content_type, accept, deadline, receive, loop)
                response = now if type(now) is Response else await cast(Awaitable[Response], now)
            else:
                handler = self.handler
                response = await self.on_thread(
                    lambda: handler(body, content_type, accept), deadline, receive
                )
        except _Busy as e:
            log.warning("503: no thread for the request (%s)", e)
            await _send(send, _text(503, f"the server is busy ({e}); try again"), retry_after=b"1")
            return
        except asyncio.TimeoutError:
            how = "its predict was cancelled" if self.is_async else "its thread runs on"
            log.error("504: the request was not answered within %s s; %s", self.timeout_s, how)
            text = f"the prediction did not finish within the timeout of {self.timeout_s:g} s"
            await _send(send, _text(504, text))
            return
        except Exception:
            log.exception("handling the request failed")
            await _send(send, _text(500, "the server failed to handle the request (see the container log)"))
            return
        if response is _GONE:
            log.info("the client went away before its prediction started: not run")
            return
        start, end = _messages(response)
        await send(start)
        await send(end)

    __call__ = invocations

    async def on_thread(self, fn: Callable[[], T], deadline: float, receive: Receive) -> T | Response:
        """`fn()` on a prediction thread (Rule 2): its result, or `_GONE` when the client went
        away while the request waited for a thread (`fn` is then never called). `_Busy` and
        `asyncio.TimeoutError` as `_Pool.run`."""
        loop = asyncio.get_running_loop()
        # Once the body is read, receive() returns only when the client has gone away: a
        # request that waited for a thread asks it when its turn comes (`_client_gone`).
        return await self.pool.run(fn, deadline, self.timers(loop), lambda: _client_gone(receive))

    def answer_async(
        self,
        body: bytes | bytearray,
        content_type: str | None,
        accept: str | None,
        deadline: float,
        receive: Receive,
        loop: asyncio.AbstractEventLoop,
    ) -> Response | Awaitable[Response]:
        """The answer through an ``async def`` predict, awaited on the event loop: the answer
        itself when it comes without waiting (the usual small request: no coroutine of its
        own), else what to await for it. A body up to `INLINE_BYTES` is decoded on the loop
        too, and its answer written there when it is small (`_small_answer`); larger ones
        are decoded and written on a prediction thread (Rule 2), so the loop never parses
        megabytes. A predict that raises is the same 500 as a plain one; past `deadline`
        (loop time), `asyncio.TimeoutError`."""
        if len(body) > INLINE_BYTES:
            return self.prepare_on_thread(body, content_type, accept, deadline, receive, loop)
        prepared = self.handler.prepare(body, content_type, accept)
        if isinstance(prepared, Response):
            return prepared
        return self.predict_async(prepared, deadline, loop, True)

    async def prepare_on_thread(
        self,
        body: bytes | bytearray,
        content_type: str | None,
        accept: str | None,
        deadline: float,
        receive: Receive,
        loop: asyncio.AbstractEventLoop,
    ) -> Response:
        """`answer_async` of a body over `INLINE_BYTES`: decoded on a prediction thread."""
        handler = self.handler
        prepared = await self.on_thread(
            lambda: handler.prepare(body, content_type, accept), deadline, receive
        )
        if isinstance(prepared, Response):
            return prepared
        answer = self.predict_async(prepared, deadline, loop, False)
        return answer if type(answer) is Response else await cast(Awaitable[Response], answer)

    def predict_async(
        self, prepared: Prepared, deadline: float, loop: asyncio.AbstractEventLoop, inline: bool
    ) -> Response | Awaitable[Response]:
        """The async predict's answer for `prepared`, or what to await for it."""
        try:
            # Its first step runs here, as `_now_or_later` runs it: a predict that returns
            # without waiting needs no timer; the rest of one that waits is timed.
            coro = self.predict(prepared.batch)
            waiting: Awaitable[Any] | None = coro
            if type(coro) is CoroutineType:
                try:
                    waiting = _rest(coro, coro.send(None))
                except StopIteration as stop:
                    result, waiting = stop.value, None
            if waiting is not None:
                return self.finish_async(waiting, prepared, deadline, loop, inline)
            if loop.time() >= deadline:
                # It held the loop past the deadline: its answer is too late all the same.
                raise asyncio.TimeoutError
        except asyncio.TimeoutError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt):
            # As on a thread (Rule 2): SystemExit or KeyboardInterrupt raised by the predict
            # function would escape the app from the event loop; like any failure of the
            # request they are a logged 500.
            return predict_failed()
        return self.write_async(result, prepared, deadline, loop, inline)

    async def finish_async(
        self,
        waiting: Awaitable[Any],
        prepared: Prepared,
        deadline: float,
        loop: asyncio.AbstractEventLoop,
        inline: bool,
    ) -> Response:
        """`predict_async` of a predict that waits: the rest of it, timed, then its answer."""
        try:
            result = await self.await_predict(waiting, deadline)
        except asyncio.TimeoutError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt):
            return predict_failed()
        answer = self.write_async(result, prepared, deadline, loop, inline)
        return answer if type(answer) is Response else await cast(Awaitable[Response], answer)

    def write_async(
        self, result: Any, prepared: Prepared, deadline: float, loop: asyncio.AbstractEventLoop, inline: bool
    ) -> Response | Awaitable[Response]:
        """The async predict's `result` written: on the loop when the body was decoded there
        and the answer is small, else on a prediction thread (what to await)."""
        handler = self.handler
        if inline and _small_answer(result):
            return handler.respond(result, prepared)
        return cast(
            Awaitable[Response],
            self.pool.run(lambda: handler.respond(result, prepared), deadline, self.timers(loop)),
        )

    async def await_predict(self, waiting: Awaitable[Any], deadline: float) -> Any:
        """The rest of an async predict that waits for something (`_now_or_later` ran its
        first step: a predict that returns without waiting needs no timeout, see
        `answer_async`); `asyncio.TimeoutError` when it has not returned by `deadline`
        (loop time): a timeout cancels this task, as ``asyncio.wait_for`` cancels its inner
        task, without a task of its own (the predict runs in the request's task, as a web
        framework's async endpoint does; its cancellation is awaited)."""
        loop = asyncio.get_running_loop()
        if math.isinf(deadline):
            return await waiting
        expiry = _Expiry()
        timer = self.timers(loop).at(deadline, expiry)
        try:
            result = await waiting
        except asyncio.CancelledError:
            if not expiry.expired:
                raise
            expiry.handled()
            raise asyncio.TimeoutError from None
        finally:
            timer.cancel()
        if expiry.expired or loop.time() >= deadline:
            # Returned anyway (it caught the cancellation, or blocked the loop past the
            # deadline so the timer could not run): too late, as a thread's late answer.
            if expiry.expired:
                expiry.handled()
            raise asyncio.TimeoutError
        return result


class _Expiry:
    """What a deadline does to the current task: cancel it, remembering that the
    cancellation is the deadline's (so the task can tell it from one from outside)."""

    __slots__ = ("expired", "task")

    def __init__(self) -> None:
        self.task = asyncio.current_task()
        self.expired = False

    def __call__(self) -> None:
        self.expired = True
        if self.task is not None:
            self.task.cancel()

    def handled(self) -> None:
        """The deadline's cancellation is handled (Python 3.11+ counts pending ones)."""
        uncancel = getattr(self.task, "uncancel", None)
        if uncancel is not None:
            uncancel()


def _now_or_later(awaitable: Awaitable[T]) -> tuple[T | None, Awaitable[T] | None]:
    """(its result, None) when `awaitable`, a coroutine, finishes without waiting for
    anything (one step, run here, in the current task); else (None, the rest of it to
    await). Raises what it raises in that step."""
    if type(awaitable) is not CoroutineType:
        return None, awaitable
    try:
        first = awaitable.send(None)
    except StopIteration as stop:
        return stop.value, None
    return None, _rest(awaitable, first)


def _body_now(message: Message | None, limit: int | None) -> bytes | Response | None:
    """The whole body when `message`, the first one received, holds all of it as bytes (the
    server read it with the headers): the bytes, or the 413 when it is over `limit`; None
    otherwise (it is read as it arrives, `_App.read_body`)."""
    if message is None or message["type"] != "http.request" or message.get("more_body", False):
        return None
    chunk = message.get("body", b"")
    if type(chunk) is not bytes:
        return None
    if limit is not None and len(chunk) > limit:
        return _text(413, f"request body exceeds the limit of {limit} bytes ({len(chunk)} bytes received)")
    return chunk


@types.coroutine
def _rest(coro: Coroutine[Any, Any, T], first: Any) -> Generator[Any, Any, T]:
    """The rest of `coro`, which has already yielded `first` to the running task: what
    ``await coro`` would have done from there (values sent and exceptions thrown in by the
    task are passed on)."""
    yielded = first
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as e:
            try:
                yielded = coro.throw(e)
            except StopIteration as stop:
                return cast(T, stop.value)
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return cast(T, stop.value)


#: Request bodies up to this size reach an ``async def`` predict decoded on the event loop
#: (larger ones are decoded on a prediction thread).
INLINE_BYTES = 16 * 1024
#: The largest answer an ``async def`` predict's request writes on the event loop: arrays of
#: at most this many bytes, or a list of at most 64 items.
_INLINE_ANSWER_BYTES = 64 * 1024


def _small_answer(result: Any) -> bool:
    """Whether `result` (an async predict's) is written on the event loop: a numpy array or a
    batch of numpy columns of at most `_INLINE_ANSWER_BYTES` in all, or a short list."""
    kind = type(result)
    if kind is RecordBatch:
        total = 0
        for col in result.label.values():
            if type(col) is not np.ndarray:
                return False
            total += col.nbytes
        for col in result.features.values():
            if type(col) is not np.ndarray:
                return False
            total += col.nbytes
        return total <= _INLINE_ANSWER_BYTES
    if kind is np.ndarray:
        return bool(result.nbytes <= _INLINE_ANSWER_BYTES)
    if kind is list or kind is tuple:
        return len(result) <= 64
    return False


def is_async_callable(fn: object) -> bool:
    """Whether calling `fn` gives a coroutine to await: an ``async def`` function, a
    ``functools.partial`` of one, or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 (the type's, not the instance's)
    return not inspect.isfunction(fn) and call is not None and inspect.iscoroutinefunction(call)


def _unread(scope: Scope) -> bool:
    """Whether the request announces a body (a ``Content-Length`` other than 0, or
    ``Transfer-Encoding``): answered before it is read, the connection must close. A client
    that sent ``Expect: 100-continue`` and got a final answer need not send the body (RFC
    9110, 10.1.1); kept open, the server would read its next request as that body."""
    for k, v in scope.get("headers") or ():
        k = k.lower()
        if k == b"transfer-encoding" or (k == b"content-length" and v.strip() != b"0"):
            return True
    return False


def _framing(headers: Sequence[tuple[bytes, bytes]]) -> tuple[int | None, str | None, str | None] | Response:
    """A request's Content-Length (None: none), Content-Type and Accept (a repeated header's
    values joined with ", "; None when absent), read from its headers whatever the case of
    their names; or the 400 that answers a malformed or ambiguous Content-Length."""
    lengths: list[bytes] = []
    types: list[bytes] = []
    accepts: list[bytes] = []
    chunked = False
    for k, v in headers:
        k = k.lower()
        if k == b"content-type":
            types.append(v)
        elif k == b"accept":
            accepts.append(v)
        elif k == b"content-length":
            lengths.append(v)
        elif k == b"transfer-encoding":
            chunked = True
    length: int | None = None
    if lengths and chunked:  # a request smuggling attempt, or a broken client (RFC 9112, 6.3)
        return _text(400, "both Transfer-Encoding and Content-Length")
    if len(lengths) == 1 and lengths[0].isdigit():  # one plain number
        length = int(lengths[0])
    elif lengths:
        values = {v.strip() for v in b",".join(lengths).split(b",")}
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
            shown = b", ".join(lengths).decode("latin-1")
            return _text(400, f"malformed Content-Length {shown!r}")
        length = int(next(iter(values)))
    return length, _joined(types), _joined(accepts)


def _joined(values: list[bytes]) -> str | None:
    """A header's values (a repeated header joined with ", "), None when absent."""
    if not values:
        return None
    if len(values) == 1:
        return values[0].decode("latin-1")
    return ", ".join(v.decode("latin-1") for v in values)


def _client_gone(receive: Receive) -> bool:
    """Whether the client has gone away, asked without waiting: once the body is read,
    ``receive()`` returns only when the client has gone (ASGI), and at once when it has
    already. One step of it runs here; a receive() that waits is closed (the server's
    wait for a message ends unanswered). A ``receive()`` that is no coroutine cannot be
    asked without waiting: the client counts as there, and the answer goes nowhere if not."""
    pending = receive()
    if type(pending) is not CoroutineType:
        if isinstance(pending, asyncio.Future) and pending.done():
            return not pending.cancelled() and pending.exception() is None
        return False
    try:
        pending.send(None)
    except StopIteration:
        return True
    except Exception:  # a receive() that fails says nothing of the client: still there
        return False
    pending.close()
    return False


#: The Content-Type header of each answer type sent so far (None: a value a header cannot
#: carry); answer types come from the offered types and the Accept headers remembered by the
#: handler, and the memory is bounded as theirs.
_CONTENT_TYPES: dict[str, bytes | None] = {}


def _content_type_header(content_type: str) -> bytes | None:
    known = _CONTENT_TYPES.get(content_type, b"")
    if known != b"":
        return known
    value = content_type.encode("latin-1") if _FIELD_VALUE.fullmatch(content_type) else None
    if len(content_type) <= 256:
        if len(_CONTENT_TYPES) >= 256:
            _CONTENT_TYPES.clear()
        _CONTENT_TYPES[content_type] = value
    return value


def _messages(
    r: Response,
    close: bool = False,
    allow: bytes | None = None,
    retry_after: bytes | None = None,
) -> tuple[Message, Message]:
    """The two ASGI messages that send `r` (with ``Content-Length``, and the other headers
    asked for)."""
    content_type = _content_type_header(r.content_type)
    if content_type is None:
        # Only the environment can put this here (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT with
        # a character a header cannot carry): a misconfiguration, answered as handle() does.
        log.error("the answer's Content-Type %r cannot be sent in a header", r.content_type)
        r = _text(500, "the server is misconfigured (see its log)")
        content_type = _TEXT
    body = r.body
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    if close:
        headers.append((b"connection", b"close"))
    if allow is not None:
        headers.append((b"allow", allow))
    if retry_after is not None:
        headers.append((b"retry-after", retry_after))
    return (
        {"type": "http.response.start", "status": r.status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    )


async def _send(
    send: Send,
    r: Response,
    *,
    close: bool = False,
    allow: bytes | None = None,
    retry_after: bytes | None = None,
) -> None:
    start, end = _messages(r, close, allow, retry_after)
    await send(start)
    await send(end)


def asgi_app(
    predict: Predict,
    *,
    env: Mapping[str, str] | None = None,
    offered: Sequence[str] | None = None,
    limits: Limits | None = None,
    max_concurrency: int | None = None,
    load: Callable[[], object] | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> ASGIApp:
    """An ASGI 3 application serving `predict` (see the module's rules).

    Parameters
    ----------
    predict
        Called as `smp.serving.handle` calls it: a `RecordBatch` in; a batch, a numpy array
        or a list of per-record dicts out. A plain function runs on a worker thread; an
        ``async def`` (or an object whose ``__call__`` is one) is awaited on the event loop.
    env
        The container's environment (a snapshot of ``os.environ`` when None):
        ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, ``SAGEMAKER_MAX_RESPONSE_IN_MB``,
        ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, ``SAGEMAKER_DEFAULT_INVOCATIONS_CONTENT_TYPE``,
        and for ``/execution-parameters`` ``SAGEMAKER_BATCH_STRATEGY`` and
        ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``.
    offered
        The response types this container writes (default: every registered codec).
    limits
        What a request may hold (default `sm_payloads.limits.SERVING`); its ``max_bytes``,
        when set, is the body limit instead of the environment's.
    max_concurrency
        Threads running requests at once (default: CPUs + 4, at most 32).
    load
        Called once, on its own thread, before ``/ping`` turns healthy (its result is
        ignored: keep the model where `predict` finds it).
    timeout_s
        Seconds a request may take once its body is read (None: no limit); then 504.
    """
    return _App(predict, env, offered, limits, max_concurrency, load, timeout_s)


# ======================================================================================
# Running it: sm-payloads serve
# ======================================================================================


def resolve(reference: str) -> Callable[..., Any]:
    """``module:callable`` (``pkg.mod:obj.attr``) imported from the current directory too;
    ValueError with a one-line reason when it cannot be found or is not callable."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{reference!r}: expected MODULE:CALLABLE, as model:predict")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"{reference!r}: cannot import {module_name!r} ({e})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{reference!r}: {module_name!r} has no {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{reference!r} is not callable")
    return obj  # type: ignore[no-any-return]


def _app_from_environment() -> ASGIApp:
    """The app of one uvicorn worker process, from what `serve` put in the environment."""
    predict = resolve(os.environ["SM_PAYLOADS_PREDICT"])
    load_ref = os.environ.get("SM_PAYLOADS_LOAD")
    max_concurrency = os.environ.get("SM_PAYLOADS_MAX_CONCURRENCY")
    timeout = os.environ.get("SM_PAYLOADS_TIMEOUT_S")
    offered = os.environ.get("SM_PAYLOADS_OFFERED")
    return asgi_app(
        predict,
        offered=offered.split("\n") if offered else None,
        load=resolve(load_ref) if load_ref else None,
        max_concurrency=int(max_concurrency) if max_concurrency else None,
        timeout_s=float(timeout) if timeout and float(timeout) > 0 else None,
    )


def serve(
    predict: str,
    *,
    load: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    max_concurrency: int | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    offered: Sequence[str] | None = None,
) -> int:
    """Run ``predict`` (a ``module:callable`` reference) on uvicorn until SIGTERM or Ctrl-C;
    returns 0 after a graceful stop. Prints one line on stderr once listening (port 0: the
    port chosen). ImportError naming the extra when uvicorn is not installed; ValueError
    for a reference that cannot be resolved."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError(_INSTALL) from None
    import signal

    if not 0 <= port <= 65535:  # else uvicorn's OverflowError, two tracebacks long
        raise ValueError(f"port {port} is out of range (0 to 65535; 0: any free port)")
    resolve(predict)
    if load:
        resolve(load)
    os.environ["SM_PAYLOADS_PREDICT"] = predict
    os.environ.pop("SM_PAYLOADS_LOAD", None)
    if load:
        os.environ["SM_PAYLOADS_LOAD"] = load
    os.environ["SM_PAYLOADS_WORKERS"] = str(workers)
    os.environ["SM_PAYLOADS_TIMEOUT_S"] = "0" if timeout_s is None else repr(float(timeout_s))
    os.environ.pop("SM_PAYLOADS_MAX_CONCURRENCY", None)
    os.environ.pop("SM_PAYLOADS_OFFERED", None)
    if offered:
        os.environ["SM_PAYLOADS_OFFERED"] = "\n".join(offered)
    if max_concurrency is not None:
        os.environ["SM_PAYLOADS_MAX_CONCURRENCY"] = str(max_concurrency)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(
        "sm_payloads.server:_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )

    def announce(bound_port: int) -> None:
        what = f"{workers} worker{'s' if workers != 1 else ''}"
        sys.stderr.write(
            f"sm-payloads: serving {predict} on http://{host}:{bound_port} ({what}; "
            "GET /ping, POST /invocations)\n"
        )
        sys.stderr.flush()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if self.started and sockets is None and self.servers:
                announce(self.servers[0].sockets[0].getsockname()[1])

    # uvicorn stops gracefully on SIGTERM / SIGINT, then raises the signal again: here it
    # has been handled, and the exit status is 0.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = Server(config)
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            sock = config.bind_socket()
            announce(sock.getsockname()[1])
            # Older uvicorn takes the workers' entry point; newer ones make their own.
            if "target" in inspect.signature(Multiprocess).parameters:
                Multiprocess(config, target=server.run, sockets=[sock]).run()  # type: ignore[call-arg]
            else:
                Multiprocess(config, sockets=[sock]).run()
        else:
            server.run()
    except SystemExit as e:  # uvicorn exits (1 or 3) when it cannot start: the port is taken
        return 0 if e.code in (0, None) else 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
