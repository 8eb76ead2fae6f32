"""RecordIO-protobuf against hostile record layouts: memory proportional to the input.

Records that the template and the field-sequence walk do not read (protobuf's merges,
unpacked fields, strings, many keys in varying orders, thousands of small fields) go to the
vectorized reader or the careful one; either way the peak allocation (tracemalloc, numpy
included) of `decode` must stay within 32 x a 2 MB body, the bound of docs/reliability.md
(without its 8 MB allowance, which would hide a regression at this size). Each test runs on
the path the environment selects (the C loops, or the numpy twins under
``SM_PAYLOADS_PURE_PYTHON=1``), and checks the values too.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads.formats import _record_reader as reader
from sm_payloads.recordio import frame_table, write_records

from .helpers import f32, features, ld, varint

CT = "application/x-recordio-protobuf"
SIZE = 2_000_000


def peak(f: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        out = f()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def body_of(record: Callable[[int], bytes]) -> tuple[bytes, int]:
    n = max(1, SIZE // (len(record(0)) + 8))
    return write_records([record(i) for i in range(n)]), n


def _tensor_twice(i: int) -> bytes:
    return features(b"v", ld(2, ld(1, f32(float(i % 7)))) + ld(2, ld(1, f32(2.0))))


def _value_in_parts(i: int) -> bytes:
    return features(b"v", ld(2, ld(1, f32(float(i % 7)))), ld(2, ld(1, f32(2.0))))


def _unpacked_int32(i: int) -> bytes:
    return features(b"v", ld(7, b"\x08" + varint(i % 100) + b"\x08\x02"))


def _uid(i: int) -> bytes:
    return features(b"v", ld(2, ld(1, f32(float(i % 7), 2.0)))) + ld(3, b"u%d" % (i % 10))


def _small_fields(i: int) -> bytes:
    return features(b"v", ld(7, b"\x08\x01" * 1000))


def _unknown_fields(i: int) -> bytes:
    return features(b"v", ld(2, ld(1, f32(1.0, 2.0)))) + b"\x30\x01" * 1000


def _tiny_entries(i: int) -> bytes:
    k = 48 + i % 5  # 100 map entries of 4 and 2 bytes (an empty key, no value), then "v"
    return b"\x0a\x02\x0a\x00" * k + b"\x0a\x00" * (100 - k) + features(b"v", ld(2, ld(1, f32(float(i % 7)))))


def _deleting_entries(i: int) -> bytes:
    # "a" and "b", then 100 entries of 5 bytes without a value: key "a" (which removes
    # "a") in even records, key "c" in odd ones.
    tail = (b"\x0a\x03\x0a\x01a" if i % 2 == 0 else b"\x0a\x03\x0a\x01c") * 100
    return features(b"a", ld(2, ld(1, f32(float(i))))) + features(b"b", ld(2, ld(1, f32(2.0)))) + tail


def _empty_value_parts(i: int) -> bytes:
    return features(b"v", *([b""] * 999), ld(2, ld(1, f32(float(i % 7)))))


def _empty_packed_runs(i: int) -> bytes:
    return features(b"v", ld(2, b"\x0a\x00" * 1000 + ld(1, f32(float(i % 7)))))


def _unpacked_float32(i: int) -> bytes:
    return features(b"v", ld(2, b"".join(b"\x0d" + f32(float(i % 7 + j)) for j in range(1000))))


def _keys_rotating(i: int) -> bytes:
    order = sorted(range(300), key=lambda j: (7 * j + i) % 300)
    return b"".join(features(b"k%d" % j, ld(2, ld(1, f32(float(j))))) for j in order)


CASES: dict[str, tuple[Callable[[int], bytes], Callable[[smp.RecordBatch, int], None]]] = {
    "a tensor twice in a value": (
        _tensor_twice,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], np.stack([np.arange(n) % 7, np.full(n, 2)], 1).astype(np.float32)
        ),
    ),
    "a value in two parts": (
        _value_in_parts,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], np.stack([np.arange(n) % 7, np.full(n, 2)], 1).astype(np.float32)
        ),
    ),
    "unpacked int32 values": (
        _unpacked_int32,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], np.stack([np.arange(n) % 100, np.full(n, 2)], 1).astype(np.int32)
        ),
    ),
    "a uid in every record": (
        _uid,
        lambda b, n: (b.uid is not None and [b.uid[0], b.uid[13]] == ["u0", "u3"]) or pytest.fail("uid"),
    ),
    "a thousand 2-byte values a record": (
        _small_fields,
        lambda b, n: np.testing.assert_array_equal(b.features["v"], np.ones((n, 1000), np.int32)),
    ),
    "a thousand unknown fields a record": (
        _unknown_fields,
        lambda b, n: np.testing.assert_array_equal(b.features["v"], np.tile(np.float32([1, 2]), (n, 1))),
    ),
    "map entries of 2 to 4 bytes": (
        _tiny_entries,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], (np.arange(n) % 7).astype(np.float32)[:, None]
        ),
    ),
    "entries of no value that remove a key": (
        _deleting_entries,
        lambda b, n: (
            (
                b.features["a"].to_lists() == [None if i % 2 == 0 else [float(i)] for i in range(n)]
                and list(b.features) == ["b", "a"]
            )
            or pytest.fail("a")
        ),
    ),
    "a thousand empty value parts": (
        _empty_value_parts,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], (np.arange(n) % 7).astype(np.float32)[:, None]
        ),
    ),
    "a thousand empty packed runs of values": (
        _empty_packed_runs,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], (np.arange(n) % 7).astype(np.float32)[:, None]
        ),
    ),
    "a thousand unpacked float32 values a record": (
        _unpacked_float32,
        lambda b, n: np.testing.assert_array_equal(
            b.features["v"], (np.arange(n)[:, None] % 7 + np.arange(1000)).astype(np.float32)
        ),
    ),
    "300 keys in another order in each record": (
        _keys_rotating,
        lambda b, n: np.testing.assert_array_equal(b.features["k299"], np.full((n, 1), 299, np.float32)),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_records_of_hostile_layouts_decode_within_the_memory_bound(case: str) -> None:
    record, check = CASES[case]
    body, n = body_of(record)
    used, batch = peak(lambda: smp.decode_request(body, CT))
    assert len(batch) == n
    check(batch, n)
    assert used <= 32 * len(body), f"{case}: peak {used / len(body):.1f} x the body"


def test_many_keys_in_few_records_are_refused() -> None:
    # 10 records of 20,000 keys each, none shared: 200,000 Ragged columns of about 600
    # bytes (the batch alone 44 x the body). Each such key counts 10 + 64 cells against
    # max(2**20, payload bytes + 8 per record); key 57,958 (budget // 74) is in record 2.
    recs = [
        b"".join(features(b"r%dk%05d" % (r, j), ld(2, ld(1, f32(1.0)))) for j in range(20_000))
        for r in range(10)
    ]
    body = write_records(recs)
    budget = max(1 << 20, sum(len(r) for r in recs) + 8 * 10)
    assert budget // 74 // 20_000 == 2
    with pytest.raises(smp.DecodeError) as e:
        smp.decode_request(body, CT)
    assert e.value.reason == (
        f"features: 200000 different keys in 10 records make 14800000 column cells (64 more for each key "
        f"some records lack), more than the {budget} allowed (use recordio_protobuf.decode_records instead)"
    )
    frame = 8 + len(recs[0]) + (-len(recs[0]) % 4)
    assert (e.value.offset, e.value.record_index) == (2 * frame, 2)


def test_two_records_of_thousands_of_keys_still_read() -> None:
    recs = [
        b"".join(features(b"r%dk%d" % (r, j), ld(2, ld(1, f32(float(j))))) for j in range(5_000))
        for r in range(2)
    ]
    b = smp.decode_request(write_records(recs), CT)
    assert len(b.features) == 10_000
    col = b.features["r1k4999"]
    assert col.to_lists() == [None, [4999.0]]


# One record of about 500 kB of small fields: no run of records can split it. The vectorized
# reader reads it: a run of empty fields is one row of its tables, unpacked values are joined
# without a table (C) or read in runs of fields (numpy), and a message of many fields is split
# by walkers over its blocks on the numpy path.
_ONE_RECORD: dict[str, tuple[bytes, Callable[[smp.RecordBatch], Any]]] = {
    "250,000 empty map entries": (
        b"\x0a\x00" * 250_000 + features(b"v", ld(2, ld(1, f32(1.5)))),
        lambda b: list(b.features) == ["v"] and b.features["v"].tolist() == [[1.5]] and not b.label,
    ),
    "250,000 empty value parts": (
        features(b"v", *([b""] * 250_000), ld(2, ld(1, f32(1.5)))),
        lambda b: b.features["v"].tolist() == [[1.5]],
    ),
    "250,000 empty float32 tensors in one value": (
        features(b"v", ld(2, ld(1, f32(1.5))) + b"\x12\x00" * 250_000),
        lambda b: b.features["v"].tolist() == [[1.5]],
    ),
    "250,000 empty packed runs": (
        features(b"v", ld(2, b"\x0a\x00" * 250_000 + ld(1, f32(1.5)))),
        lambda b: b.features["v"].tolist() == [[1.5]],
    ),
    "100,000 unpacked float32 values": (
        features(b"v", ld(2, b"".join(b"\x0d" + f32(float(j % 1000)) for j in range(100_000)))),
        lambda b: (
            b.features["v"].shape == (1, 100_000)
            and b.features["v"][0, :3].tolist() == [0.0, 1.0, 2.0]
            and b.features["v"][0, -1] == 999.0
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(_ONE_RECORD))
def test_one_record_of_many_small_fields_stays_within_the_memory_bound(case: str) -> None:
    payload, check = _ONE_RECORD[case]
    body = write_records([payload])
    used, batch = peak(lambda: smp.decode_request(body, CT))
    assert check(batch)
    assert used <= 32 * len(body), f"{case}: peak {used / len(body):.1f} x the body"
    # The careful reader alone: no object per empty part or packed run, 16 bytes per
    # unpacked value (an array each was about 100 bytes, a tuple per part 60 x the body).
    starts, lengths, _ = frame_table(memoryview(body), CT)
    used, alone = peak(lambda: reader.careful_decode(memoryview(body), starts, lengths, {}, 0, 0))
    assert alone.equals(batch, bitwise=True)
    assert used <= 3 * len(body), f"{case}: careful reader peak {used / len(body):.1f} x the body"


def test_the_template_gives_up_on_record_0_at_its_first_field_it_does_not_read() -> None:
    # One record of 200,000 unpacked int32 values: the template reads the first and stops
    # (it read all of them at the careful reader's speed, then declined).
    body = write_records([features(b"v", ld(7, b"\x08\x03" * 200_000))])
    buf = np.frombuffer(body, np.uint8)
    starts, lengths, _ = frame_table(memoryview(body), CT)
    read = []
    real = reader.read_varint

    def counted(*a: Any) -> Any:
        read.append(1)
        return real(*a)

    with mock.patch.object(reader, "read_varint", counted):
        assert reader.template_decode(memoryview(body), buf, starts, int(lengths[0]), False) is None
    assert len(read) == 1
    assert smp.decode_request(body, CT).features["v"].tolist() == [[3] * 200_000]


# (The careful reader keeps a Python int per unpacked int32 value: 4 x a body of 2-byte ones.)
_ONE_RECORD_MORE: dict[str, tuple[bytes, Callable[[smp.RecordBatch], Any]]] = {
    "250,000 unpacked 2-byte int32 values": (
        features(b"v", ld(7, b"".join(b"\x08" + bytes([j % 128]) for j in range(250_000)))),
        lambda b: (
            b.features["v"].dtype == np.int32
            and b.features["v"].tolist() == [[j % 128 for j in range(250_000)]]
        ),
    ),
}


# One record of about 500 kB of non-empty tiny fields (a row each, one per 3 to 6 bytes: past
# a table's limit of one per 8): read in pieces of its fields, a key's last entry winning
# across them, the last uid too.
_A, _B = ld(1, ld(1, b"a")), ld(1, ld(1, b"b"))  # entries of keys a and b without a value
_ONE_RECORD_MORE |= {
    "100,000 entries of keys a and b without a value": (
        features(b"a", ld(2, ld(1, f32(1.0)))) + (_A + _B) * 50_000 + features(b"v", ld(2, ld(1, f32(1.5)))),
        lambda b: list(b.features) == ["v"] and b.features["v"].tolist() == [[1.5]],
    ),
    "85,000 entries of an empty key with an empty int32 tensor, and of key b without a value": (
        (b"\x0a\x04\x12\x02\x3a\x00" + _B) * 42_500 + features(b"v", ld(2, ld(1, f32(1.5)))),
        lambda b: (
            list(b.features) == ["", "v"]
            and b.features[""].dtype == np.int32
            and b.features[""].shape == (1, 0)
            and b.features["v"].tolist() == [[1.5]]
        ),
    ),
    "170,000 uid strings, the last one another": (
        ld(3, b"u") * 170_000 + ld(3, b"w") + features(b"v", ld(2, ld(1, f32(1.5)))),
        lambda b: b.uid == ("w",) and b.features["v"].tolist() == [[1.5]],
    ),
    "a mix of entries, uids and metadata, b's last entry holding a value": (
        (_A + ld(3, b"u") + features(b"b", ld(7, ld(1, b"\x03"))) + _B + ld(4, b"m") + _A) * 16_000
        + features(b"b", ld(7, ld(1, b"\x04"))),
        lambda b: (
            list(b.features) == ["b"]
            and b.features["b"].tolist() == [[4]]
            and (b.uid, b.metadata) == (("u",), ("m",))
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(_ONE_RECORD | _ONE_RECORD_MORE))
def test_one_record_of_many_small_fields_is_read_without_the_careful_reader(case: str) -> None:
    payload, check = (_ONE_RECORD | _ONE_RECORD_MORE)[case]
    body = write_records([payload])
    with mock.patch.object(reader, "careful_decode", side_effect=AssertionError("the careful reader")):
        used, batch = peak(lambda: smp.decode_request(body, CT))
    assert check(batch)
    assert used <= 32 * len(body), f"{case}: peak {used / len(body):.1f} x the body"
