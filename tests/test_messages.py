"""Error messages never echo the payload (sm_payloads.errors, Rule 5).

Whatever the input, a message stays near 300 characters and quotes at most a short piece of
any one thing it names: a 100 KB key, field, token, header or content type shows as its
first and last characters around ``...``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import errors, serving

BIG = 100_000
#: The longest message any error may have: the content type (MAX_WORD), the reason
#: (MAX_REASON) and the position (under 80 characters).
LONGEST = 360


def assert_short(message: str, filler: str) -> None:
    assert len(message) <= LONGEST, (len(message), message[:400])
    longest_run = max((len(m.group()) for m in re.finditer(re.escape(filler) + "+", message)), default=0)
    assert longest_run <= errors.MAX_WORD, message[:400]


def test_clip_keeps_short_text_whole_and_elides_long_words() -> None:
    assert errors.clip("unexpected key 'bogus'") == "unexpected key 'bogus'"
    word = "'" + "k" * 1000 + "'"
    assert errors.clip(f"unexpected key {word} in record 3") == (
        "unexpected key '" + "k" * 39 + "..." + "k" * 16 + "' in record 3"
    )
    many = " ".join(["abcdefghij"] * 100)  # 1,099 characters of short words
    clipped = errors.clip(many)
    assert len(clipped) == errors.MAX_REASON
    assert clipped.startswith("abcdefghij abcdefghij") and clipped.endswith("abcdefghij abcdefghij")
    assert " ... " in clipped


K = "k" * BIG
# (media type, body, the character the long thing is made of)
CASES = [
    ("application/json", ('{"instances": [{"' + K + '": null}]}').encode(), "k"),
    ("application/json", ('{"instances": [{"features": [1, "' + K + '"]}]}').encode(), "k"),
    ("application/json", ('{"instances": [{"features": [1, ' + "9" * BIG + "x]}]}").encode(), "9"),
    (
        "application/json",
        ('{"instances": [{"data": {"features": {"values": [1], "' + K + '": 1}}}]}').encode(),
        "k",
    ),
    ("application/json", ('{"instances": [{"label": {"' + K + '": true}}]}').encode(), "k"),
    ("application/jsonlines", ('{"features": [1]}\n{"' + K + '": null}\n').encode(), "k"),
    ("application/jsonlines", ('{"features": [1]}\n' + K + "\n").encode(), "k"),
    ("text/csv", ('1,2\n3,"' + K + '"x\n').encode(), "k"),
    ("text/csv", ("1,2\n3,4," + K + "\n").encode(), "k"),
    ("text/csv", ('1,2\n"' + K + "\n").encode(), "k"),
    ("text/csv;header=present", ("a," + K + "\n1,2\n3\n").encode(), "k"),
    ("text/libsvm", ("1 1:2\n1 " + K + "\n").encode(), "k"),
    ("text/libsvm", ("1 1:2\n1 3:" + K + "\n").encode(), "k"),
]


@pytest.mark.parametrize(("media_type", "body", "filler"), CASES)
def test_a_huge_token_is_not_echoed(media_type: str, body: bytes, filler: str) -> None:
    with pytest.raises(smp.DecodeError) as e:
        smp.decode_request(body, media_type)
    assert_short(str(e.value), filler)
    assert_short(e.value.reason, filler)


@pytest.mark.parametrize(("media_type", "body", "filler"), CASES)
def test_a_huge_token_is_not_echoed_by_the_server(media_type: str, body: bytes, filler: str) -> None:
    answer = serving.handle(body, media_type, None, lambda batch: np.zeros(len(batch)))
    assert answer.status == 400
    assert_short(answer.body.decode(), filler)


def _ld(field: int, payload: bytes) -> bytes:
    n, size = len(payload), bytearray()
    while n >= 0x80:
        size.append(n & 0x7F | 0x80)
        n >>= 7
    size.append(n)
    return bytes([field << 3 | 2]) + bytes(size) + payload


def test_a_huge_recordio_protobuf_key_is_not_echoed() -> None:
    # a features entry with a 100 KB key whose float32 tensor holds 2 bytes of packed values
    entry = _ld(1, b"k" * BIG) + _ld(2, _ld(2, _ld(1, b"\x00\x00")))
    body = smp.recordio.write_records([_ld(1, entry)])
    with pytest.raises(smp.DecodeError) as e:
        smp.decode_request(body, "application/x-recordio-protobuf")
    assert "packed float32 values of 2 bytes" in str(e.value)
    assert_short(str(e.value), "k")


def test_a_huge_npy_header_is_not_echoed() -> None:
    header = ("{'descr': '<f" + "4" * 5000 + "', 'fortran_order': False, 'shape': (1,), }").encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    body = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 4
    with pytest.raises(smp.DecodeError) as e:
        smp.decode_request(body, "application/x-npy")
    assert_short(str(e.value), "4")


def test_a_huge_content_type_or_accept_is_not_echoed() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError) as e:
        smp.decode_request(b"1", "application/" + K)
    assert_short(str(e.value), "k")
    with pytest.raises(smp.NotAcceptableError) as n:
        smp.negotiate("application/" + K, ["text/csv"])
    assert_short(str(n.value), "k")
    answer = serving.handle(b"1", "application/" + K, None, lambda batch: np.zeros(len(batch)))
    assert answer.status == 415
    assert_short(answer.body.decode(), "k")
    answer = serving.handle(b"1", "text/csv", "application/" + K, lambda batch: np.zeros(len(batch)))
    assert answer.status == 406
    assert_short(answer.body.decode(), "k")


MEDIA_TYPES = [
    "application/json",
    "application/jsonlines",
    "text/csv",
    "text/csv;label_size=1",
    "text/csv;header=present",
    "text/libsvm",
    "application/x-recordio-protobuf",
    "application/x-npy",
]


@settings(deadline=None, max_examples=60)
@given(
    st.sampled_from(MEDIA_TYPES),
    st.integers(0, 2**16),
    st.sampled_from(["z", "7", '"', "é", "\x00"]),
    st.sampled_from([0, 1]),
)
def test_a_long_run_anywhere_in_a_valid_body_gives_a_short_message(
    media_type: str, where: int, filler: str, response: int
) -> None:
    label = np.arange(4, dtype=np.float32) if "label_size" in media_type else None
    batch = smp.from_dense(np.arange(12, dtype=np.float32).reshape(4, 3), label)
    body = smp.encode_request(batch, media_type)
    cut = where % (len(body) + 1)
    bad = body[:cut] + (filler * 5000).encode() + body[cut:]
    decode = smp.decode_response if response and media_type != "text/libsvm" else smp.decode_request
    try:
        decode(bad, media_type)
    except smp.DecodeError as e:
        assert_short(str(e), filler if filler != '"' else '\\"')
