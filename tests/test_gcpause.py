"""The cyclic garbage collector is paused while a decoder of many objects runs
(`sm_payloads._gcpause`), and its switch is left as the caller had it."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sm_payloads as smp
from sm_payloads import _gcpause
from sm_payloads._gcpause import PAUSE_FROM, paused


@pytest.fixture
def collections() -> Iterator[list[bool]]:
    """For each collection that starts while the test runs: whether a decoder's body reader
    (``_decode_buf`` of formats/json.py or formats/jsonlines.py) was running."""
    seen: list[bool] = []

    def cb(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            frame = sys._getframe(1)
            inside = False
            while frame is not None:
                if frame.f_code.co_name == "_decode_buf" and "sm_payloads" in frame.f_code.co_filename:
                    inside = True
                frame = frame.f_back  # type: ignore[assignment]
            seen.append(inside)

    was_on = gc.isenabled()
    gc.enable()
    gc.collect()  # the allocation counts from zero: the few objects made before a pause start none
    gc.callbacks.append(cb)
    try:
        yield seen
    finally:
        gc.callbacks.remove(cb)
        if not was_on:
            gc.disable()


# protobuf-layout records with a label: about 90 bytes and 5 containers a record on the
# general path (`general_path` below switches the column readers off), which parses the
# document and builds the columns from it
_RECORD = b'{"data": {"features": {"values": [1.5, 2.5]}}, "label": {"values": [1]}}'
_BODY = b'{"instances": [' + b",".join([_RECORD] * 40_000) + b"]}"
_LINES = b"\n".join([_RECORD] * 40_000) + b"\n"


@pytest.fixture
def general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request decoders with their scanners and column readers switched off."""
    from sm_payloads.formats import json as json_format
    from sm_payloads.formats import jsonlines as jsonl_format

    for module in (json_format, jsonl_format):
        monkeypatch.setattr(module, "request_group", lambda *a, **k: None)
        monkeypatch.setattr(module, "request_fast", lambda *a, **k: None)


def test_the_pause_threshold_is_64_kib() -> None:
    assert PAUSE_FROM == 65536


@pytest.mark.parametrize(
    ("content_type", "body"), [("application/json", _BODY), ("application/jsonlines", _LINES)]
)
def test_no_collection_runs_while_the_general_path_reads(
    collections: list[bool], general_path: None, content_type: str, body: bytes
) -> None:
    batch = smp.decode_request(body, content_type)
    assert batch.n == 40_000
    assert batch.features["values"][39_999].tolist() == [1.5, 2.5]
    assert batch.label["values"].tolist() == [[1.0]] * 40_000
    assert True not in collections  # none while the decoder read the body
    assert gc.isenabled() is True


def test_without_the_pause_the_same_body_starts_collections(
    collections: list[bool], general_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the control for the test above: without the pause, collections start inside the reader
    monkeypatch.setattr(_gcpause, "PAUSE_FROM", 1 << 40)
    batch = smp.decode_request(_BODY, "application/json")
    assert batch.n == 40_000
    assert collections.count(True) > 10


def test_a_body_under_the_threshold_is_read_without_a_pause() -> None:
    first = gc.get_threshold()[0]
    assert first > 0
    seen: list[tuple[int, bool]] = []
    with paused(PAUSE_FROM - 1):
        seen.append((gc.get_threshold()[0], gc.isenabled()))
    with paused(PAUSE_FROM):
        seen.append((gc.get_threshold()[0], gc.isenabled()))
    assert seen == [(first, True), (0, True)]  # a pause: no automatic collection, the switch as it was
    assert gc.get_threshold()[0] == first
    assert gc.isenabled() is True


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    try:
        smp.decode_request(_BODY, "application/json")
        assert gc.isenabled() is False
    finally:
        gc.enable()


def test_the_collector_is_back_on_after_a_decode_error() -> None:
    bad = _BODY[:-2] + b',{"features": [1, "x"]}]}'
    with pytest.raises(smp.DecodeError) as e:
        smp.decode_request(bad, "application/json")
    assert e.value.record_index == 40_000
    assert gc.isenabled() is True


def test_overlapping_pauses_end_with_the_last() -> None:
    entered = threading.Event()
    release = threading.Event()
    states: list[bool] = []

    def other() -> None:
        with paused():
            entered.set()
            release.wait(10)

    first = gc.get_threshold()[0]
    t = threading.Thread(target=other)
    with paused():
        t.start()
        assert entered.wait(10)
    # this block ended first: the other thread's pause holds the collections off
    states.append(gc.get_threshold()[0] == first)
    release.set()
    t.join(10)
    states.append(gc.get_threshold()[0] == first)
    assert states == [False, True]
    assert _gcpause._depth == 0


def _pause_in_a_thread(caller: Callable[[], None]) -> None:
    """`caller` runs while another thread's pause holds the collections off."""
    entered = threading.Event()
    release = threading.Event()

    def other() -> None:
        with paused():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    try:
        assert entered.wait(10)
        caller()
    finally:
        release.set()
        t.join(10)
    assert _gcpause._depth == 0


def test_a_collector_turned_off_during_a_pause_stays_off() -> None:
    """A thread that turns the collector off while another thread's decode holds the pause
    finds it off after the pause ends (a pause by gc.disable turned it back on), and on
    again when it turns it on during one."""
    first = gc.get_threshold()[0]
    try:
        _pause_in_a_thread(gc.disable)
        assert gc.isenabled() is False
        assert gc.get_threshold()[0] == first
        _pause_in_a_thread(gc.enable)
        assert gc.isenabled() is True
        assert gc.get_threshold()[0] == first
    finally:
        gc.enable()


def test_a_threshold_set_during_a_pause_stays() -> None:
    old = gc.get_threshold()
    try:
        _pause_in_a_thread(lambda: gc.set_threshold(old[0] + 17))
        assert gc.get_threshold() == (old[0] + 17, *old[1:])
    finally:
        gc.set_threshold(*old)


def test_threads_decoding_at_once_leave_the_collector_as_it_was() -> None:
    """Eight threads decode large bodies at once, half of them refused (a DecodeError inside
    the pause): every batch and error as one thread gets them, and the collector's threshold
    and switch back as they were once all end."""
    bad = _BODY[:-2] + b',{"features": [1, "x"]}]}'
    first = gc.get_threshold()[0]
    got: list[Any] = []
    lock = threading.Lock()

    def work(body: bytes) -> None:
        for _ in range(3):
            try:
                out: Any = smp.decode_request(body, "application/json").n
            except smp.DecodeError as e:
                out = (e.reason, e.record_index)
            with lock:
                got.append(out)

    threads = [threading.Thread(target=work, args=(_BODY if i % 2 else bad,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    why = "$.instances[40000].features: expected a list of numbers or of strings, found a string"
    assert sorted(map(str, got)) == sorted(["40000"] * 12 + [str((why, 40_000))] * 12)
    assert gc.get_threshold()[0] == first and gc.isenabled() is True
    assert _gcpause._depth == 0


@pytest.mark.parametrize("general", [False, True])
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", _BODY),
        ("application/jsonlines", _LINES),
        ("application/json", _BODY[:-2] + b',{"features": [1, "x"]}]}'),
        ("application/jsonlines", _LINES + b'{"label": {"values": [true]}}\n'),
        ("application/json", _BODY[:-2] + b',{"label": {"values": [true]}}]}'),
    ],
)
def test_decoders_leave_no_reference_cycle(
    general: bool, content_type: str, body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The objects a decode makes while the collector is paused are freed by their reference
    counts: a collection after it finds nothing (a cycle would wait for the next collection
    the pause put off)."""
    if general:
        from sm_payloads.formats import json as json_format
        from sm_payloads.formats import jsonlines as jsonl_format

        for module in (json_format, jsonl_format):
            monkeypatch.setattr(module, "request_group", lambda *a, **k: None)
            monkeypatch.setattr(module, "request_fast", lambda *a, **k: None)
    gc.collect()
    with contextlib.suppress(smp.DecodeError):
        smp.decode_request(body, content_type)
    assert gc.collect() == 0
