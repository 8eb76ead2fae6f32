"""A libsvm block the C kernel declines is read by the kernel up to the line it stopped in
(``_clibsvm.parse(..., report=True)`` gives that line's offset) and by the careful reader
from there, so an error late in a block is found at once rather than after a careful
reading of the whole block; the error (message, offset, line, record index) and the batch
are the careful reader's, as before. Expected values are written out, and the pure path
must agree."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import libsvm as L

LIBSVM = "text/libsvm"
GOOD = b"1 1:2 3:4\n"


def _outcome(body: bytes, **kw: Any) -> Any:
    try:
        b = smp.decode_request(body, LIBSVM, **kw)
    except smp.DecodeError as e:
        return ("error", e.reason, e.offset, e.line, e.record_index)
    return (b.n, b.features["values"].toarray().tobytes(), b.label["values"].tobytes())


def _pure(body: bytes) -> Any:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(L, "_C", None)
        return _outcome(body)


@pytest.mark.parametrize("n", [3, 150_000, 300_000])  # one block, and errors in the second and third
def test_an_error_in_the_last_line(n: int) -> None:
    body = GOOD * n + b"1 x:2\n"
    want = ("error", "token 2: index 'x' is not a non-negative integer", 10 * n + 2, n + 1, n)
    assert _outcome(body) == want
    assert _pure(body) == want


def test_an_error_in_the_middle_of_a_block() -> None:
    body = GOOD * 1000 + b"1 3:2 1:4\n" + GOOD * 1000
    want = (
        "error",
        "token 3: index 1 is not greater than the previous index 3 (indices must increase)",
        10006,
        1001,
        1000,
    )
    assert _outcome(body) == want
    assert _pure(body) == want


def test_the_kernel_reports_where_it_stopped() -> None:
    if L._C is None:
        pytest.skip("the C extension is not built")
    body = GOOD * 4 + b"1 x:2\n" + GOOD
    st_ = L._State(0, None, np.dtype(np.float64))
    assert L._kernel(body, st_, report=True) == 40
    assert L._kernel(body, st_) is None
    assert (st_.line, st_.offset, st_.record) == (1, 0, 0)  # a declined block leaves the state


def test_iter_decode_reports_the_same_error() -> None:
    body = GOOD * 200_000 + b"2 1:1 1:2\n"
    with pytest.raises(smp.DecodeError) as info:
        for _ in smp.iter_decode(body, LIBSVM, batch_size=50_000):
            pass
    e = info.value
    assert (e.reason, e.offset, e.line, e.record_index) == (
        "token 3: duplicate index 1",
        2_000_006,
        200_001,
        200_000,
    )


@given(
    st.integers(0, 40),
    st.sampled_from([b"1 x:2", b"x 1:2", b"1 2:1 1:3", b"1 1:2:3", b"1 qid:1 1:2", b"1 1:2"]),
)
def test_a_line_among_good_ones(at: int, line: bytes) -> None:
    body = GOOD * at + line + b"\n" + GOOD * 3
    assert _outcome(body) == _pure(body)
