"""Feature columns written side by side (`formats._side_by_side`): the C kernel
``_ccolumns.interleave`` and its numpy twin against rows built byte by byte, and
RecordIO-protobuf records written straight from a table's columns
(`recordio_protobuf.encode_columns`) against the encoder of the stacked batch, bit for bit
(NaN payloads and -0.0 included), on both paths; and the command line's Parquet / Arrow IPC
-> RecordIO-protobuf path, which uses them."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import arrow as arrow_mod
from sm_payloads import cli
from sm_payloads.formats import _side_by_side as sbs
from sm_payloads.formats import recordio_protobuf as rp

MAGIC = 0xCED7230A
NATIVE = sbs._C is not None
#: The fixtures only pick a path (the same for every example).
FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(params=["c", "pure"])
def interleave(request: pytest.FixtureRequest) -> Callable[..., None]:
    if request.param == "c":
        if not NATIVE:
            pytest.skip("the C kernel is not built")
        return sbs._C.interleave  # type: ignore[no-any-return]
    return sbs.interleave_pure


@pytest.fixture(params=["c", "pure"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both paths of `SideBySide`: the C kernel, and the twin (the kernel switched off)."""
    if request.param == "c" and not NATIVE:
        pytest.skip("the C kernel is not built")
    if request.param == "pure":
        monkeypatch.setattr(sbs, "_C", None)
    yield request.param


def expected_rows(out: bytes, offset: int, stride: int, rows: int, parts: list[bytes]) -> bytes:
    """What `interleave` must leave in `out`, built a row at a time with bytes slices."""
    widths = [len(p) // rows if rows else 0 for p in parts]
    buf = bytearray(out)
    for r in range(rows):
        at = r * stride + offset
        for p, w in zip(parts, widths, strict=True):
            buf[at : at + w] = p[r * w : (r + 1) * w]
            at += w
    return bytes(buf)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[bytearray, int, int, int, list[bytes]]:
    rows = draw(st.integers(0, 40))
    widths = draw(st.lists(st.integers(1, 17), min_size=0, max_size=6))
    width = sum(widths)
    offset = draw(st.integers(0, 9))
    stride = offset + width + draw(st.integers(0, 9))
    parts = [draw(st.binary(min_size=rows * w, max_size=rows * w)) for w in widths]
    size = (rows - 1) * stride + offset + width if rows else 0
    fill = draw(st.binary(min_size=1, max_size=1))
    out = bytearray(fill * (size + draw(st.integers(0, 5))))
    return out, offset, stride, rows, parts


@FIXTURES_OK
@given(layouts())
def test_interleave_writes_each_part_row_by_row_and_nothing_else(
    interleave: Callable[..., None], layout: tuple[bytearray, int, int, int, list[bytes]]
) -> None:
    out, offset, stride, rows, parts = layout
    want = expected_rows(bytes(out), offset, stride, rows, parts)
    interleave(out, offset, stride, rows, parts)
    assert bytes(out) == want


@given(layouts())
def test_the_c_kernel_and_its_twin_write_the_same_bytes(
    layout: tuple[bytearray, int, int, int, list[bytes]],
) -> None:
    if not NATIVE:
        pytest.skip("the C kernel is not built")
    out, offset, stride, rows, parts = layout
    twin = bytearray(out)
    sbs._C.interleave(out, offset, stride, rows, parts)
    sbs.interleave_pure(twin, offset, stride, rows, parts)
    assert out == twin


def test_interleave_of_numpy_parts_into_a_numpy_matrix(interleave: Callable[..., None]) -> None:
    a = np.array([[1, 2], [3, 4], [5, 6]], np.int32)
    b = np.array([[7], [8], [9]], np.int32)
    out = np.zeros((3, 4), np.int32)
    interleave(out, 4, 16, 3, [a, b])
    assert out.tolist() == [[0, 1, 2, 7], [0, 3, 4, 8], [0, 5, 6, 9]]


@pytest.mark.parametrize(
    ("out_size", "offset", "stride", "rows", "parts", "message"),
    [
        (40, 0, 8, 5, [b"abc"], "part 0: 3 bytes is not 5 rows of a positive width"),
        (40, 0, 8, 5, [b""], "part 0: 0 bytes is not 5 rows of a positive width"),
        (40, 0, 8, 0, [b"ab"], "part 0: 2 bytes is not 0 rows of a positive width"),
        (40, 5, 8, 2, [b"abcdefgh"], "the parts do not fit in a row of out"),
        (10, 0, 8, 2, [b"abcdef"], r"out is shorter than \(rows - 1\) \* stride \+ offset \+ width bytes"),
        (40, -1, 8, 2, [b"ab"], "offset, stride and rows must not be negative"),
    ],
)
def test_interleave_refuses_what_does_not_fit(
    interleave: Callable[..., None],
    out_size: int,
    offset: int,
    stride: int,
    rows: int,
    parts: list[bytes],
    message: str,
) -> None:
    out = bytearray(out_size)
    with pytest.raises(ValueError, match=f"^{message}$"):
        interleave(out, offset, stride, rows, parts)
    assert out == bytearray(out_size)  # nothing written


def test_interleave_refuses_a_read_only_out(interleave: Callable[..., None]) -> None:
    with pytest.raises(TypeError):
        interleave(b"\0" * 8, 0, 4, 2, [b"ab"])


def test_interleave_fits_a_last_row_shorter_than_the_stride(interleave: Callable[..., None]) -> None:
    out = bytearray(b"." * 10)  # two rows of 8 bytes; the second ends after its 2 bytes
    interleave(out, 0, 8, 2, [b"abcd"])
    assert out == bytearray(b"ab......cd")


# --------------------------------------------------------------------------------------
# RecordIO-protobuf records from columns side by side
# --------------------------------------------------------------------------------------

#: float32 / float64 bit patterns that a lossy or value-based copy would change.
SPECIAL32 = [0x80000000, 0x7FC00123, 0xFFC00001, 0x7F800000, 0x00000001, MAGIC]
SPECIAL64 = [0x8000000000000000, 0x7FF8000000000123, 0xFFF0000000000000, 0x0000000000000001]


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Feature columns (N, k_i) of one float dtype, from any bits, and a float label or none."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 30))
    uint = np.uint32 if dtype == np.float32 else np.uint64
    special = SPECIAL32 if dtype == np.float32 else SPECIAL64
    bits = st.one_of(st.sampled_from(special), st.integers(0, int(np.iinfo(uint).max)))
    widths = draw(st.lists(st.integers(0, 4), min_size=2, max_size=6))
    parts = [
        np.array(draw(st.lists(bits, min_size=n * w, max_size=n * w)), uint).view(dtype).reshape(n, w)
        for w in widths
    ]
    label = None
    if draw(st.booleans()):
        ldtype = draw(st.sampled_from([np.float32, np.float64]))
        lbits = draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
        label = np.array(lbits, np.uint32).view(np.float32).astype(ldtype)
    return parts, label


@FIXTURES_OK
@given(tables(), st.booleans())
def test_encode_columns_writes_the_stacked_batchs_bytes(
    path: str, table: tuple[list[np.ndarray], np.ndarray | None], sdk: bool
) -> None:
    parts, label = table
    n = parts[0].shape[0]
    stacked = np.hstack(parts)
    batch = smp.RecordBatch({"values": stacked}, {} if label is None else {"values": label}, n=n)
    want = rp.encode(batch, sdk_compatible=sdk)
    columns: list[tuple[str, str, Any]] = [("features", "values", sbs.SideBySide(parts))]
    if label is not None:
        columns.append(("label", "values", label))
    got = rp.encode_columns(columns, n, sdk_compatible=sdk)
    if got is None:  # only where encode moved the magic of some record
        assert not sdk and want != rp.encode(batch, sdk_compatible=True)
    else:
        assert got == want
    assert np.array_equal(sbs.SideBySide(parts).stack().view(np.uint8), stacked.view(np.uint8))


def test_encode_columns_declines_a_record_with_the_magic_at_an_aligned_offset(path: str) -> None:
    x = np.full((3, 2), np.uint32(MAGIC).view(np.float32))  # every value is the magic
    parts = [x[:, :1].copy(), x[:, 1:].copy()]
    assert rp.encode_columns([("features", "values", sbs.SideBySide(parts))], 3) is None
    framed = rp.encode_columns([("features", "values", sbs.SideBySide(parts))], 3, sdk_compatible=True)
    assert framed == rp.encode(smp.from_dense(x), sdk_compatible=True)


def test_side_by_side_gives_the_columns_from_arrow_stacks() -> None:
    pa = pytest.importorskip("pyarrow")
    t = pa.table(
        {
            "y": pa.array([1.0, 0.0], pa.float32()),
            "a": pa.array([0.5, -0.0], pa.float32()),
            "b": pa.array([3, 7], pa.int32()),
            "c": pa.array([[1.5, 2.5], [3.5, 4.5]], pa.list_(pa.float32(), 2)),
        }
    )
    got = arrow_mod.side_by_side(t, label="y")
    assert isinstance(got, tuple)
    columns, rest = got
    # int32 beside float32 stacks as float64: the columns come in that type, in order
    assert [(c.dtype.str, c.shape) for c in columns] == [("<f8", (2, 1)), ("<f8", (2, 1)), ("<f8", (2, 2))]
    assert np.hstack(columns).tolist() == [[0.5, 3.0, 1.5, 2.5], [-0.0, 7.0, 3.5, 4.5]]
    assert np.signbit(columns[0][1, 0])
    assert dict(rest.features) == {} and rest.label["values"].tolist() == [1.0, 0.0]
    # one feature column is not stacked: the batch as from_arrow gives it
    one = arrow_mod.side_by_side(t.select(["y", "a"]), label="y")
    assert isinstance(one, smp.RecordBatch) and one.features["values"].shape == (2, 1)


# --------------------------------------------------------------------------------------
# The command line: Parquet / Arrow IPC -> RecordIO-protobuf
# --------------------------------------------------------------------------------------


def _write(pa: Any, t: Any, path: Path) -> None:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(t, path, row_group_size=7)
    else:
        with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
            w.write_table(t, max_chunksize=7)


def _bits_table(pa: Any, n: int) -> Any:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**32, (n, 5), dtype=np.uint64).astype(np.uint32).view(np.float32)
    x[0, :] = np.array([0x80000000, 0x7FC00123, 0x00000001, 0x7F800000, 0xFF800000], np.uint32).view(
        np.float32
    )
    cols = {f"x{i}": x[:, i] for i in range(4)}
    cols["fs"] = pa.FixedSizeListArray.from_arrays(pa.array(np.repeat(x[:, 4], 2)), 2)
    return pa.table({"y": np.arange(n, dtype=np.float32), **cols})


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_convert_table_to_recordio_equals_from_arrow_then_encode(
    path: str, tmp_path: Path, suffix: str, dtype: str | None
) -> None:
    pa = pytest.importorskip("pyarrow")
    t = _bits_table(pa, 23)
    src, dst = tmp_path / f"in{suffix}", tmp_path / "out.rec"
    _write(pa, t, src)
    args = ["convert", str(src), str(dst), "--label", "y", "--batch-size", "10", "-q"]
    assert cli.main(args + (["--dtype", dtype] if dtype else [])) == 0
    want = b"".join(
        rp.encode(smp.from_arrow(t.slice(a, b - a), label="y", dtype=dtype))
        for a, b in [(0, 7), (7, 14), (14, 21), (21, 23)]  # row groups / record batches of 7
    )
    assert dst.read_bytes() == want
    back = smp.decode_request(want, "application/x-recordio-protobuf")
    assert back.features["values"].view(np.uint32 if dtype is None else np.uint64).tolist()[0][:4] == (
        np.array([0x80000000, 0x7FC00123, 0x00000001, 0x7F800000], np.uint32)
        .view(np.float32)
        .astype(dtype or np.float32)
        .view(np.uint32 if dtype is None else np.uint64)
        .tolist()
    )


def test_convert_table_with_the_magic_in_its_values_moves_it_as_encode_does(
    path: str, tmp_path: Path
) -> None:
    pa = pytest.importorskip("pyarrow")
    magic = np.uint32(MAGIC).view(np.float32)
    t = pa.table({"y": np.zeros(4, np.float32), "a": np.full(4, magic), "b": np.ones(4, np.float32)})
    src, dst = tmp_path / "in.arrow", tmp_path / "out.rec"
    _write(pa, t, src)
    assert cli.main(["convert", str(src), str(dst), "--label", "y", "-q"]) == 0
    want = rp.encode(
        smp.from_dense(np.stack([np.full(4, magic), np.ones(4, np.float32)], 1), np.zeros(4, np.float32))
    )
    assert want != rp.encode(smp.from_arrow(t, label="y"), sdk_compatible=True)  # the magic was moved
    assert dst.read_bytes() == want


def test_convert_integer_table_to_recordio_takes_the_encoders_other_layout(path: str, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    t = pa.table(
        {
            "y": pa.array([1, 2], pa.int32()),
            "a": pa.array([3, 4], pa.int32()),
            "b": pa.array([5, 6], pa.int8()),
        }
    )
    src, dst = tmp_path / "in.parquet", tmp_path / "out.rec"
    _write(pa, t, src)
    assert cli.main(["convert", str(src), str(dst), "--label", "y", "-q"]) == 0
    # int32 records: features [3, 5] and [4, 6], written by the encoder's tree of fields
    want = rp.encode(smp.from_dense(np.array([[3, 5], [4, 6]], np.int32), np.array([1, 2], np.int32)))
    assert dst.read_bytes() == want
    assert struct.unpack("<I", want[:4])[0] == MAGIC


def test_convert_empty_arrow_file_does_not_import_pandas(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    import subprocess
    import sys

    t = pa.table({"y": pa.array([], pa.float32()), "a": pa.array([], pa.float32())})
    src = tmp_path / "in.arrow"
    _write(pa, t, src)
    code = (
        "import sys\nfrom sm_payloads.cli import main\n"
        f"rc = main(['convert', {str(src)!r}, {str(tmp_path / 'out.rec')!r}, '--label', 'y', '-q'])\n"
        "print(rc, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "0 False\n"
    assert (tmp_path / "out.rec").read_bytes() == b""
