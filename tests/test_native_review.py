"""Adversarial review of the C kernels of the text formats (_cparse, _cjson, _cjsonrec,
_clibsvm and the converter of _cnumber.h): hostile inputs against the twins and the careful
readers, bodies that end exactly where an unreadable page begins, huge counts and exponents,
and the regressions of what the review found.

Oracles, independent of the code under test: CPython's ``float()`` and the exact rational
(``fractions.Fraction``, through tests/test_numbers.py) for numbers, the general paths
(orjson, the careful readers) and the numpy/Python twins for whole bodies. Skipped where the
extensions are not built (the pure pass has nothing to compare).
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sm_payloads import _native
from sm_payloads.formats import _json_layout as J

from .test_json_fastpath import decode as json_decode
from .test_json_fastpath import general_path, outcome, pure, same_column
from .test_libsvm_fastpath import decoded as libsvm_decoded
from .test_numbers import _JSON_RE, _exact_decimal, c_bits, json_expect, oracle_f32, oracle_f64
from .test_responses_fastpath import _all_same, paths
from .test_sparse_fastpath import _MPROTECT, guarded


def _same_request(a: Any, b: Any) -> None:
    """same_outcome of tests/test_json_fastpath.py, with text columns compared by value
    (an object array's bytes are its pointers)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert a.n == b.n
    for m in ("features", "label"):
        ca, cb = getattr(a, m), getattr(b, m)
        assert list(ca) == list(cb)
        for k in ca:
            if isinstance(ca[k], np.ndarray) and ca[k].dtype == object:
                assert isinstance(cb[k], np.ndarray) and cb[k].dtype == object
                assert ca[k].shape == cb[k].shape and ca[k].tolist() == cb[k].tolist()
            else:
                same_column(ca[k], cb[k])
    assert (a.uid, a.metadata, a.configuration) == (b.uid, b.metadata, b.configuration)


def check_all_paths(body: bytes, lines: bool, **kw: Any) -> None:
    """The request decoders with the C scanner, its twin and the general path: one outcome."""
    got = outcome(lambda: json_decode(body, lines, **kw))
    with general_path():
        want = outcome(lambda: json_decode(body, lines, **kw))
    with pure():
        twin = outcome(lambda: json_decode(body, lines, **kw))
    _same_request(got, want)
    _same_request(twin, want)


CPARSE = _native.load("formats._cparse")
CJSON = _native.load("formats._cjson")
CREC = _native.load("formats._cjsonrec")
CSVM = _native.load("formats._clibsvm")
pytestmark = pytest.mark.skipif(
    None in (CPARSE, CJSON, CREC, CSVM), reason="the C extensions are not built (or SM_PAYLOADS_PURE_PYTHON)"
)


# --------------------------------------------------------------------------------------
# Regressions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("n", [2**61 + 1, 3 * 2**61, 2**62, 2**63 - 1])
def test_join_rows_with_a_huge_row_count_declines(k: int, n: int) -> None:
    """Texts far shorter than n fields: None, as the twin says. The size sum used to go
    negative and overflow (signed overflow, caught by UBSan), and with k=2, n=3*2**61 it
    wrapped to a positive size: MemoryError instead of None."""
    assert CREC is not None
    texts, heads = [b""] * k, [b""] * (k + 1)
    assert J.join_rows_pure(texts, n, 0x2C, heads, b"") is None
    assert CREC.join_rows(texts, n, 0x2C, heads, b"") is None
    assert CREC.join_rows(texts, n, 0x2C, heads, b"\n") is None


def test_join_rows_still_joins_short_fields() -> None:
    """Fields may be empty: n fields in exactly n - 1 bytes (the separators) join."""
    assert CREC is not None
    texts = [b",,", b"a,b,c"]
    heads = [b"{", b":", b"}"]
    want = b"{:a}\n{:b}\n{:c}"
    assert J.join_rows_pure(texts, 3, 0x2C, heads, b"\n") == want
    assert CREC.join_rows(texts, 3, 0x2C, heads, b"\n") == want
    assert CREC.join_rows([b","], 3, 0x2C, [b"", b""], b"") is None  # 2 fields, not 3


def _wide_records(keys: list[str], n: int, reverse: bool) -> bytes:
    first = {key: i for i, key in enumerate(keys)}
    other = {key: first[key] for key in (reversed(keys) if reverse else keys)}
    return orjson.dumps([first] + [other] * n)


def _best_of_3(f: Any) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def test_json_records_key_lookups_stay_proportional_to_the_body() -> None:
    """A key not where the previous record had it was looked up among all the keys (up to
    4096 comparisons each; the first record's check for a key twice was quadratic too):
    records of 4096 keys in reverse order took 18x orjson's time on 2 MB. Now a hash table
    finds them: the kernel reads such a body, exactly, in about orjson's time (measured
    0.4x to 0.7x; the bound here is loose for a shared machine)."""
    assert CREC is not None
    keys = [f"k{i}" for i in range(4096)]
    body = _wide_records(keys, 40, reverse=True)
    got = CREC.json_records(body, 0, len(body), False)
    assert got is not None and got[0] == 41 and [c[0] for c in got[1]] == keys
    assert np.frombuffer(got[1][4095][2], np.float64).tolist() == [4095.0] * 41
    c_time = _best_of_3(lambda: CREC.json_records(body, 0, len(body), False))
    orjson_time = _best_of_3(lambda: orjson.loads(body))
    assert c_time < 6 * orjson_time, (c_time, orjson_time)
    # one wide record, and a few keys in any order (writers that sort or shuffle keys)
    one = orjson.dumps([dict.fromkeys(keys, 1.5)])
    got = CREC.json_records(one, 0, len(one), False)
    assert got is not None and got[0] == 1 and len(got[1]) == 4096
    rows = [
        {"b": 1.5, "a": "x", "c": [1, 2]},
        {"c": [3, 4], "a": "y", "b": -2},
        {"a": "z", "c": [5, 6], "b": 0},
    ]
    small = orjson.dumps(rows * 50)
    got = CREC.json_records(small, 0, len(small), False)
    assert got is not None and got[0] == 150
    assert [c[:2] for c in got[1]] == [("b", "n"), ("a", "s"), ("c", "v")]
    assert np.frombuffer(got[1][0][2], np.float64).tolist() == [1.5, -2.0, 0.0] * 50
    _all_same(paths("application/json", _wide_records(keys[:300], 4, reverse=True)))


def _fnv_slot(key: bytes) -> int:
    """The key table slot of _cjsonrec.c (FNV-1a, folded, 8192 slots): an independent copy,
    to make keys collide."""
    h = 0xCBF29CE484222325
    for c in key:
        h = ((h ^ c) * 0x100000001B3) & (2**64 - 1)
    return (h ^ (h >> 32)) & 8191


def test_json_records_keys_made_to_collide_decline() -> None:
    """2000 keys whose slots all fall in 64 adjacent ones make one long probe run: the
    probe budget (proportional to the body) runs out and the kernel declines; the twin and
    the general path read the body."""
    assert CREC is not None
    keys: list[str] = []
    i = 0
    while len(keys) < 2000:
        if _fnv_slot(b"k%d" % i) < 64:
            keys.append(f"k{i}")
        i += 1
    body = _wide_records(keys, 2, reverse=True)
    assert CREC.json_records(body, 0, len(body), False) is None
    twin = J.records_pure(body, 0, len(body), False)
    assert twin is not None and twin[0] == 3
    _all_same(paths("application/json", body))


# --------------------------------------------------------------------------------------
# Reads at the end of the buffer
# --------------------------------------------------------------------------------------

_TAILS = [
    b"1.2345678901234567e+123",
    b"12345678.1234567890123",
    b"1234567.12345678",
    b"0.000000000000000000000000001234",
    b"nan",
    b"infinity",
    b"1e-400",
    b"9" * 40,
    b"1." + b"0" * 30 + b"1",
    b"4503599627370496.5",
    b"+.5e+1",
]
_WRAPS = [
    b"%s",
    b"-%s",
    b"1:%s",
    b'"%s',
    b"1,%s",
    b'{"features": [%s',
    b'{"features": {"keys": [%s',
    b'{"features": {"shape": [%s',
    b'[{"a": %s',
    b'[{"a": "%s',
    b'[{"a": [1, %s',
    b'[{"abcdefgh": 1}, {"abcdefgh%s',
    b'[{"a": "\\u%s',
    b"1 qid:%s",
]


def _every_kernel(data: Any, n: int) -> list[Any]:
    """Every kernel on data[0:n] (data a guarded array or bytes): what each returns."""
    assert CPARSE is not None and CJSON is not None and CREC is not None and CSVM is not None
    got: list[Any] = []
    for grammar in (0, 1):
        for f32 in (False, True):
            got.append(CPARSE.numbers(data, grammar, f32))
    for f32 in (False, True):
        for k in (1, 2):
            out = np.zeros(64, np.float32 if f32 else np.float64)
            got.append((CPARSE.csv_read(data, 0, n, k, out, 0, f32), out.tobytes()))
        for lines in (False, True):
            r = CJSON.records(data, 0, n, lines, f32)
            got.append(None if r is None else (r[0], r[1], bytes(r[2]), bytes(r[3]), r[8]))
    for lines in (False, True):
        got.append(CREC.json_records(data, 0, n, lines))
    for sep in (b"", b"\n", b"],["):
        out = np.zeros(64)
        counts, starts = np.zeros(8, np.int64), np.zeros(8, np.int64)
        got.append((CJSON.json_lists(data, 0, n, sep, out, counts, starts, True), out.tobytes()))
    newlines, colons = CSVM.sizes(data, 0, n)
    for f32 in (False, True):
        dt = np.float32 if f32 else np.float64
        parts = [np.zeros(newlines + 1, np.int64), np.zeros(colons, np.int32), np.zeros(colons, dt)]
        parts += [np.zeros(newlines + 1, dt), np.zeros(newlines + 1, np.int64)]
        r = CSVM.parse(data, 0, n, 0, -1, f32, -1, -1, *parts)
        got.append((r, b"".join(p.tobytes() for p in parts) if r is not None else None))
    return got


def _same_results(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], list):  # json_records
            assert x[0] == y[0]
            assert [(c[0], c[1], c[3], c[2] if c[1] == "s" else bytes(c[2]), c[4]) for c in x[1]] == [
                (c[0], c[1], c[3], c[2] if c[1] == "s" else bytes(c[2]), c[4]) for c in y[1]
            ]
        else:
            assert x == y


@pytest.mark.skipif(_MPROTECT is None, reason="pages cannot be protected here")
def test_every_prefix_ending_at_an_unreadable_page() -> None:
    """Each kernel on every prefix of number-bearing texts placed right before a PROT_NONE
    page: a read one byte past the end faults. The results equal those on a bytes copy."""
    for tail in _TAILS:
        for wrap in _WRAPS:
            full = wrap % tail
            for cut in range(1, len(full) + 1):
                body = full[:cut]
                _same_results(_every_kernel(guarded(body), len(body)), _every_kernel(body, len(body)))


@pytest.mark.skipif(_MPROTECT is None, reason="pages cannot be protected here")
@given(
    st.lists(st.sampled_from(list(b'0123456789.eE+-,:"[]{} \n\r\tnaifqd\\u')), min_size=1, max_size=48).map(
        bytes
    )
)
def test_random_bytes_ending_at_an_unreadable_page(body: bytes) -> None:
    _same_results(_every_kernel(guarded(body), len(body)), _every_kernel(body, len(body)))


# --------------------------------------------------------------------------------------
# The converter against float() and the exact rational
# --------------------------------------------------------------------------------------


def _near(rnd: random.Random, f32: bool) -> str:
    """A decimal near a rounding boundary of binary64 or binary32: a halfway point written
    exactly, with extra zeros, with a 1 far down, or cut to a few digits."""
    from fractions import Fraction

    if f32:
        b = min(rnd.getrandbits(31), 0x7F7FFFFF)
        lo = Fraction(float(np.array(b, np.uint32).view(np.float32)[()]))
        hi = (
            Fraction(2**128)
            if b == 0x7F7FFFFF
            else Fraction(float(np.array(b + 1, np.uint32).view(np.float32)[()]))
        )
    else:
        b = min(rnd.getrandbits(63), 0x7FEFFFFFFFFFFFFF)
        lo = Fraction(np.array(b, np.uint64).view(np.float64)[()].item())
        hi = (
            Fraction(2**1024)
            if b == 0x7FEFFFFFFFFFFFFF
            else Fraction(np.array(b + 1, np.uint64).view(np.float64)[()].item())
        )
    s = _exact_decimal((lo + hi) / 2)
    r = rnd.random()
    if r < 0.25:
        return s
    if "." not in s:
        s += "."
    if r < 0.5:
        return s + "0" * rnd.randint(1, 900) + rnd.choice(["", "1"])
    digits = s.replace(".", "")
    cut = rnd.randint(1, min(len(digits), 40))
    lead = len(s.split(".")[0])
    # the first `cut` significant-or-not digits, then the exponent that keeps the scale
    mant = digits[:cut]
    return f"{mant}e{lead - cut}"


@pytest.mark.parametrize("seed", range(4))
def test_converter_near_boundaries_equals_float_and_fraction(seed: int) -> None:
    rnd = random.Random(seed)
    for f32 in (False, True):
        texts = [_near(rnd, f32) for _ in range(400)]
        texts += ["-" + t for t in texts[:100]]
        want = [oracle_f32(t) if f32 else oracle_f64(t) for t in texts]
        assert c_bits(texts, 0, f32) == want
        js = [t for t in texts if _JSON_RE.fullmatch(t)]
        jwant = [json_expect(t, f32) for t in js]
        kept = [t for t, w in zip(js, jwant, strict=True) if w is not None]
        assert c_bits(kept, 1, f32) == [w for w in jwant if w is not None]
        for t, w in zip(js, jwant, strict=True):
            if w is None:  # beyond the type: the JSON grammar refuses
                assert c_bits([t], 1, f32) is None


_FLT_MAX = 3.4028234663852886e38


@pytest.mark.parametrize(
    ("text", "f64", "f32"),
    [
        # zero times any power of ten, and powers far beyond either range (Fraction cannot
        # hold 10**(10**22): the values are the literals)
        ("0e999999999999999999999", 0.0, 0.0),
        ("-0e-999999999999999999999", -0.0, -0.0),
        ("1e" + "9" * 40, float("inf"), float("inf")),
        ("-1e" + "9" * 40, float("-inf"), float("-inf")),
        ("1e-" + "9" * 40, 0.0, 0.0),
        ("1e-400", 0.0, 0.0),
        ("-1e-400", -0.0, -0.0),
        # long runs of zeros around one significant digit
        ("0" * 5000 + "1", 1.0, 1.0),
        ("0." + "0" * 5000 + "1e5001", 1.0, 1.0),
        ("1" + "0" * 5000 + "e-5000", 1.0, 1.0),
        ("12345678901234567890" + "0" * 30 + "e-30", 12345678901234567890.0, 12345679395506094080.0),
        # the binary32 overflow threshold FLT_MAX + half an ulp = 2**128 - 2**103: below it
        # FLT_MAX, on it (a tie, FLT_MAX odd) and above it infinity
        ("3.4028235677973366e38", 3.4028235677973366e38, _FLT_MAX),
        ("3.40282356779733661637539395458142568447e38", 3.4028235677973366e38, _FLT_MAX),
        ("3.40282356779733661637539395458142568448e38", 3.4028235677973366e38, float("inf")),
        ("340282356779733661637539395458142568448", 3.4028235677973366e38, float("inf")),
    ],
)
def test_converter_extremes(text: str, f64: float, f32: float) -> None:
    assert c_bits([text], 0, False) == [int(np.array(f64).view(np.uint64))]
    assert c_bits([text], 0, True) == [int(np.array(f32, np.float32).view(np.uint32))]
    if "9" * 40 not in text and "0e" not in text and len(text) < 4000:  # where Fraction is practical
        assert c_bits([text], 0, False) == [oracle_f64(text)]
        assert c_bits([text], 0, True) == [oracle_f32(text)]


# --------------------------------------------------------------------------------------
# Hostile bodies: kernel, twin and general path give one outcome
# --------------------------------------------------------------------------------------

REQUESTS = [
    b'{"\xff": [1, 2]}',
    b'{"instances": [{"\xc3\xa9": [1]}, {"\xc3\xa9": [2]}]}',
    b'{"\xed\xa0\x80": [1]}',
    b'{"features": {"keys":[0,0],"shape":[3],"values":[1,2]}}',
    b'{"features": {"keys":[2,0],"shape":[3],"values":[1,2]}}',
    b'{"features": {"keys":[-0],"shape":[3],"values":[1]}}',
    b'{"features": {"keys":[0],"shape":[3, 0],"values":[1]}}',
    b'{"features": {"shape":[],"values":[]}}',
    b'{"features": {"keys":[],"shape":[2],"values":[]}}',
    b'{"features": {"keys":[0],"shape":[4611686018427387904],"values":[1]}}',
    b'{"features": {"keys":[0],"shape":[3037000500, 3037000500],"values":[1]}}',
    b'{"features": {"keys":[0],"shape":[9999999999999999999],"values":[1]}}',
    b'{"features": [0e999999999999999999999, -0, 1e-400, -1e-400]}',
    b'{"features": [1e400]}',
    b'{"features": [01]}',
    b'{"features": [1.]}',
    b'{"features": [1,]}',
    b'{"features": [1\x0b]}',
    b'{"features":{"values":[1], "values":[2]}}',
    b'{"a\\u0062": [1]}',
    b'{"features": [' + b"1" * 400 + b"]}",
    b'{"features": [0.' + b"0" * 400 + b"1e400]}",
    b'{"features": [18446744073709551616, -9223372036854775809]}',
    b'\xef\xbb\xbf{"features": [1]}',
    b'{"features": [1]}\x00',
    b'{"features": [1]}\r\n\r\n{"features": [2]}\r\n',
]


@pytest.mark.parametrize("body", REQUESTS)
@pytest.mark.parametrize("lines", [False, True])
@pytest.mark.parametrize("dtype", [None, "float32"])
def test_hostile_requests(body: bytes, lines: bool, dtype: str | None) -> None:
    check_all_paths(body, lines, **({} if dtype is None else {"dtype": dtype}))


RESPONSES = [
    b'[{"a": "\xff"}]',
    b'[{"\xff": 1}]',
    b'[{"a": "\\ud800"}]',
    b'[{"a": "\\ud800\\u0041"}]',
    b'[{"a": "\\udc00"}]',
    b'[{"a": "\\ud83d\\ude00"}]',
    b'[{"a": "\\u0000"}]',
    b'[{"a": "\\\x01"}]',
    b'[{"a": "\xed\xa0\x80"}]',
    b'[{"a": "\xc0\x80"}]',
    b'[{"a": 1}, {"a": 1, "a": 2}]',
    b'[{"a": 1, "b": 2}, {"b": 3, "b": 4}]',
    b'[{"a": 1e400}]',
    b'[{"a": -0}, {"a": -0.0}]',
    b'{"pred\\u0069ctions": [{"a": 1}]}',
    b'[{"abc": 1}, {"abc\\"": 2}]',
    b'[{"abcdefghijk": 1}, {"abcdefghijl": 2}]',
    b'{"a": 1}\n{"a": 2}',
    b'{"a": \n1}',
    b'{"a": [1,\n2]}',
]


@pytest.mark.parametrize("body", RESPONSES)
@pytest.mark.parametrize("ct", ["application/json", "application/jsonlines"])
def test_hostile_responses(body: bytes, ct: str) -> None:
    _all_same(paths(ct, body))


LIBSVM = [
    b"1 qid:0000000001 1:1\n",
    b"1 qid:00000000001 1:1\n",
    b"1 qid:2147483648 1:1\n",
    b"1 000000000001:1\n",
    b"1 0000000000001:1\n",
    b"1 2147483647:1\n",
    b"1 2147483648:1\n",
    b"1 1:1_0\n",
    b"1 1:+.5e+1\n",
    b"1 1:1#c\n",
    b"1\x0b1:1\n",
    b"1\x1c1:1\n",
    b"1 1:1e400\n",
    b"1 1:\xd9\xa1\n",
    b"1 1:" + b"1" * 500 + b"\n",
    b"1 1:0." + b"0" * 400 + b"1e401\n",
    b"1 1:infinit\n",
    b"1 1:1e0005\n",
]


@pytest.mark.parametrize("body", LIBSVM)
@pytest.mark.parametrize("opts", [{}, {"dtype": "float32"}, {"num_features": 3}])
def test_hostile_libsvm(body: bytes, opts: dict[str, Any]) -> None:
    want = libsvm_decoded("careful", body, **opts)
    assert libsvm_decoded("pure", body, **opts) == want
    assert libsvm_decoded("c", body, **opts) == want


_ALPHABET = b'0123456789.eE+-,:"[]{} \n\r\tnaifqd\\u\xff\x0b'
_SEEDS = [
    b'{"instances": [{"features": [1.5, -2, 3e5]}, {"features": [0.1, 2, 3]}]}',
    b'{"features": {"keys": [0, 2], "shape": [4], "values": [1.5, 2]}}',
    b'{"features": [1, 2]}\n{"features": [3.5, -0.0]}\n',
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid body with a few bytes replaced, dropped, inserted or repeated."""
    b = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(b)))
        op = draw(st.integers(0, 3))
        if op == 0 and i < len(b):
            b[i] = draw(st.sampled_from(list(_ALPHABET)))
        elif op == 1 and i < len(b):
            del b[i : i + draw(st.integers(1, 3))]
        elif op == 2:
            b[i:i] = bytes([draw(st.sampled_from(list(_ALPHABET)))])
        else:
            j = draw(st.integers(0, len(b)))
            b[i:i] = b[min(i, j) : max(i, j)][:20]
    return bytes(b)


@given(mutated(_SEEDS), st.booleans())
def test_mutated_requests(body: bytes, lines: bool) -> None:
    check_all_paths(body, lines)


@given(
    mutated(
        [
            b'[{"a": 1.5, "b": "x", "c": [1, 2]}, {"a": -2, "b": "y\\u00e9", "c": [3, 4e-3]}]',
            b'{"predictions": [{"score": 0.5}, {"score": 0.25}]}',
            b'{"a": 1, "b": [1.5]}\n{"a": 2, "b": [2.5]}\n',
        ]
    ),
    st.sampled_from(["application/json", "application/jsonlines"]),
)
def test_mutated_responses(body: bytes, ct: str) -> None:
    _all_same(paths(ct, body))


@given(
    mutated([b"1 1:1.5 3:2e-3\n0 qid:3 2:4\n", b"-1 qid:1 1:0.5 2:nan\n2 qid:2 4:inf\n", b"1:1 2:2\n3:3\n"])
)
def test_mutated_libsvm(body: bytes) -> None:
    want = libsvm_decoded("careful", body)
    assert libsvm_decoded("pure", body) == want
    assert libsvm_decoded("c", body) == want
