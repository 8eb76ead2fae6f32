"""The cyclic garbage collector is paused while a decoder of many objects runs
(`sm_payloads._gcpause`), and its switch is left as the caller had it."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
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
    seen: list[bool] = []
    with paused(PAUSE_FROM - 1):
        seen.append(gc.isenabled())
    with paused(PAUSE_FROM):
        seen.append(gc.isenabled())
    assert seen == [True, False]
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

    t = threading.Thread(target=other)
    with paused():
        t.start()
        assert entered.wait(10)
    # this block ended first: the other thread's pause holds the collector off
    states.append(gc.isenabled())
    release.set()
    t.join(10)
    states.append(gc.isenabled())
    assert states == [False, True]
    assert _gcpause._depth == 0
