"""The properties every registered codec has, one test per property, over all of them.

The ``media_type`` fixture runs each test for every codec in the registry (with the MIME
parameters that change what a codec reads); the bodies come from `sm_payloads.testing`,
which knows what each media type carries. The format modules' own test files keep only what
is specific to their format.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import registry, testing
from sm_payloads.formats import _json_layout, _record_reader, _textnum

#: Every registered codec, and the parameter variants that change how it reads.
MEDIA_TYPES = [
    "application/json",
    "application/jsonlines",
    "text/csv",
    "text/csv;label_size=1",
    "text/csv;label_size=2;header=present",
    "application/x-recordio-protobuf",
    "application/x-npy",
    "text/libsvm",
]
BINARY = {"application/x-recordio-protobuf", "application/x-npy"}
#: The fixture only names a media type, so hypothesis may reuse it across examples (the
#: number of examples comes from the profile: tests/conftest.py).
PROPERTY = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def test_every_registered_codec_is_covered() -> None:
    assert {smp.get_codec(m).content_type for m in MEDIA_TYPES} == set(registry.CODECS)


@pytest.fixture(params=MEDIA_TYPES)
def media_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def essence(media_type: str) -> str:
    return smp.get_codec(media_type).content_type


def same(a: smp.RecordBatch, b: smp.RecordBatch, media_type: str) -> bool:
    return a.equals(b, bitwise=essence(media_type) in BINARY)


@contextlib.contextmanager
def pure_paths() -> Iterator[None]:
    """The numpy / orjson twins instead of the optional C kernels."""
    with (
        mock.patch.object(_json_layout, "_C", None),
        mock.patch.object(_textnum, "_C", None),
        mock.patch.object(_record_reader, "crecordio", None),
    ):
        yield


@PROPERTY
@given(data=st.data())
def test_decode_gives_the_batch_that_was_written(media_type: str, data: st.DataObject) -> None:
    body, batch = data.draw(testing.encoded_batches(media_type))
    assert same(smp.decode_request(body, media_type), batch, media_type)


@PROPERTY
@given(data=st.data())
def test_encode_then_decode_round_trips(media_type: str, data: st.DataObject) -> None:
    _, batch = data.draw(testing.encoded_batches(media_type))
    again = smp.encode_request(batch, media_type)
    assert same(smp.decode_request(again, media_type), batch, media_type)


@PROPERTY
@given(data=st.data())
def test_responses_round_trip(media_type: str, data: st.DataObject) -> None:
    if not smp.get_codec(media_type).capabilities.responses:
        pytest.skip(f"{essence(media_type)} carries requests only")
    body, batch = data.draw(testing.encoded_batches(media_type, response=True))
    assert same(smp.decode_response(body, media_type), batch, media_type)
    again = smp.encode_response(batch, media_type)
    # A CSV row has no names: its reader needs them to read a vector output (one quoted
    # list per record) back as a vector rather than text.
    keys = {"keys": list(batch.label)} if essence(media_type) == "text/csv" else {}
    assert same(smp.decode_response(again, media_type, **keys), batch, media_type)


@PROPERTY
@given(data=st.data())
def test_garbage_gives_a_batch_or_our_decode_error(media_type: str, data: st.DataObject) -> None:
    body = data.draw(st.one_of(testing.mutated_payloads(media_type), st.binary(max_size=64)))
    try:
        smp.decode_request(body, media_type)
    except smp.DecodeError as e:
        assert e.content_type == essence(media_type)
        assert e.offset is None or 0 <= e.offset <= len(body)


@PROPERTY
@given(data=st.data())
def test_garbage_responses_give_a_batch_or_our_decode_error(media_type: str, data: st.DataObject) -> None:
    if not smp.get_codec(media_type).capabilities.responses:
        pytest.skip(f"{essence(media_type)} carries requests only")
    mutated = testing.mutated_payloads(media_type, response=True)
    body = data.draw(st.one_of(mutated, st.binary(max_size=64)))
    try:
        smp.decode_response(body, media_type)
    except smp.DecodeError as e:
        assert e.content_type == essence(media_type)
        assert e.offset is None or 0 <= e.offset <= len(body)


@PROPERTY
@given(data=st.data(), batch_size=st.integers(1, 5), stream=st.booleans())
def test_chunked_equals_whole(media_type: str, data: st.DataObject, batch_size: int, stream: bool) -> None:
    if not smp.get_codec(media_type).capabilities.streaming:
        pytest.skip(f"{essence(media_type)} is read whole")
    body, _ = data.draw(testing.encoded_batches(media_type))
    if essence(media_type) not in BINARY:
        # a text format's lines end in LF or CRLF, the last one with a line end or without
        newline = data.draw(st.sampled_from([b"\n", b"\r\n"]))
        body = body.replace(b"\n", newline) + data.draw(st.sampled_from([b"", newline]))
    whole = smp.decode_request(body, media_type)
    source: Any = io.BytesIO(body) if stream else body
    # libsvm batches are as wide as the largest index seen so far unless the width is given
    options = {"num_features": whole.to_scipy().shape[1]} if essence(media_type) == "text/libsvm" else {}
    parts = list(smp.iter_decode(source, media_type, batch_size=batch_size, **options))
    assert all(1 <= len(p) <= batch_size for p in parts)
    assert sum(len(p) for p in parts) == len(whole)
    if parts:
        # one reader, one text: the same bits whether read whole or in batches
        assert smp.RecordBatch.concat(parts).equals(whole, bitwise=True)


@PROPERTY
@given(data=st.data())
def test_c_kernels_equal_their_twins(media_type: str, data: st.DataObject) -> None:
    body, _ = data.draw(
        st.one_of(
            testing.encoded_batches(media_type), st.tuples(testing.mutated_payloads(media_type), st.none())
        )
    )
    outcomes = []
    for context in (contextlib.nullcontext(), pure_paths()):
        with context:
            try:
                outcomes.append(smp.decode_request(body, media_type))
            except smp.DecodeError as e:
                outcomes.append(str(e))
    fast, pure = outcomes
    if isinstance(fast, str) or isinstance(pure, str):
        assert fast == pure
    else:
        assert fast.equals(pure, bitwise=True)
