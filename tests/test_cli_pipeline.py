"""The command line's conversion pipeline around the codecs: the writer thread of
`convert` (`cli._Sink.background`), the allocator setting of a conversion
(`cli._keep_freed_memory`), the frozen objects of the cyclic collector, and Arrow IPC files
read in place (`cli._Mapped`)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import pytest

from sm_payloads import cli


class _Full:
    """A binary stream whose second write fails as a full disk does."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        if self.writes == 2:
            raise OSError(28, "No space left on device")
        self.data += bytes(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failed_write_in_the_writer_thread_is_raised_by_close() -> None:
    raw = _Full()
    sink = cli._Sink(raw, "'out.rec'")  # type: ignore[arg-type]
    sink.background()
    sink.put(b"first")
    sink.put(b"second")  # fails in the thread
    with pytest.raises(cli._Failure, match=r"^cannot write 'out.rec': No space left on device$"):
        sink.close()
    assert bytes(raw.data) == b"first"


def test_a_failed_write_in_the_writer_thread_stops_the_next_put() -> None:
    raw = _Full()
    sink = cli._Sink(raw, "'out.rec'")  # type: ignore[arg-type]
    sink.background()
    sink.put(b"first")
    sink.put(b"second")
    thread = sink._thread
    assert thread is not None
    # let the thread take both pieces: a put after the failure raises it
    for _ in range(1000):
        if sink._error is not None:
            break
        thread.join(0.01)
    with pytest.raises(cli._Failure, match=r"^cannot write 'out.rec': No space left on device$"):
        sink.put(b"third")
    sink.abandon()
    assert bytes(raw.data) == b"first" and raw.writes == 2


class _Blocking:
    """A binary stream whose writes wait until `go` is set (a slow disk or pipe)."""

    def __init__(self) -> None:
        import threading

        self.go = threading.Event()
        self.started = threading.Event()
        self.data = bytearray()

    def write(self, data: Any) -> int:
        self.started.set()
        self.go.wait()
        self.data += bytes(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_writer_thread_holds_one_piece_while_it_writes_another() -> None:
    import threading

    raw = _Blocking()
    sink = cli._Sink(raw, "'out.rec'")  # type: ignore[arg-type]
    sink.background()
    sink.put(b"a")  # taken by the thread, which waits in write
    assert raw.started.wait(10)
    sink.put(b"b")  # queued: the one piece that may wait
    third = threading.Thread(target=sink.put, args=(b"c",))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # a third piece waits for room in the queue
    raw.go.set()
    third.join(10)
    sink.close()
    assert bytes(raw.data) == b"abc"


def test_a_conversion_asks_malloc_to_keep_freed_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[int, int]] = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    src = tmp_path / "in.csv"
    src.write_bytes(b"1,2\n")
    assert cli.main(["convert", str(src), str(tmp_path / "out.jsonl"), "-q"]) == 0
    # M_MMAP_THRESHOLD (-3) to glibc's largest, 32 MiB; M_TRIM_THRESHOLD (-1) 256 MiB
    assert calls == [(-3, 32 << 20), (-1, 256 << 20)]
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"features":[1.0,2.0]}\n'


def test_without_mallopt_a_conversion_runs_as_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class NoMallopt:
        pass

    monkeypatch.setattr(ctypes, "CDLL", lambda name: NoMallopt())
    src = tmp_path / "in.csv"
    src.write_bytes(b"1,2\n")
    assert cli.main(["convert", str(src), str(tmp_path / "out.csv"), "-q"]) == 0
    assert (tmp_path / "out.csv").read_bytes() == b"1.0,2.0\n"


@pytest.mark.parametrize(("body", "code"), [(b"1,2\n", 0), (b"1,2\n3\n", 1)])
def test_convert_freezes_the_collectors_objects_and_thaws_them_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: bytes, code: int
) -> None:
    import gc

    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    src = tmp_path / "in.csv"
    src.write_bytes(body)  # the second body has a row of another width: an error
    assert cli.main(["convert", str(src), str(tmp_path / "out.jsonl"), "-q"]) == code
    assert calls == ["freeze", "unfreeze"]


# --------------------------------------------------------------------------------------
# Arrow IPC files read in place (cli._Mapped)
# --------------------------------------------------------------------------------------


def _ipc_file(path: Path, batches: int, rows: int, compression: str | None = None) -> Any:
    pa = pytest.importorskip("pyarrow")
    import numpy as np

    rng = np.random.default_rng(3)
    schema = pa.schema([("y", pa.float32()), ("a", pa.float32()), ("b", pa.float64())])
    options = pa.ipc.IpcWriteOptions(compression=compression)
    tables = []
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, schema, options=options) as w:
        for _ in range(batches):
            cols = [rng.standard_normal(rows).astype(t) for t in ("f4", "f4", "f8")]
            t = pa.table(dict(zip(["y", "a", "b"], cols, strict=True)), schema=schema)
            w.write_table(t)
            tables.append(t)
    return pa.concat_tables(tables)


def test_a_mapped_ipc_file_drops_the_pages_of_the_batches_done(tmp_path: Path) -> None:
    import mmap

    pa = pytest.importorskip("pyarrow")
    src = tmp_path / "in.arrow"
    whole = _ipc_file(src, batches=3, rows=20_000)
    mapped = cli._Mapped.open(pa, str(src))
    assert mapped is not None
    ipc = pa.ipc.open_file(pa.BufferReader(mapped.buffer))
    seen, drops = [], []
    for rb in cli._file_batches(ipc, mapped):
        drops.append(mapped.dropped)
        seen.append(rb)
    drops.append(mapped.dropped)
    # nothing before the first batch is done; then up to each batch's end, page-aligned
    assert drops[0] == 0 and drops[1] > 0 and drops[1] < drops[2] < drops[3]
    assert all(d % mmap.PAGESIZE == 0 for d in drops)
    assert drops[3] <= src.stat().st_size
    # the batches still read their values (the dropped pages come back from the file)
    assert pa.Table.from_batches(seen).equals(whole)


def test_convert_reads_a_compressed_ipc_file_in_place_too(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import numpy as np

    import sm_payloads as smp
    from sm_payloads.formats import recordio_protobuf as rp

    src, dst = tmp_path / "in.arrow", tmp_path / "out.rec"
    whole = _ipc_file(src, batches=2, rows=300, compression="zstd")
    assert cli.main(["convert", str(src), str(dst), "--label", "y", "-q"]) == 0
    want = b"".join(rp.encode(smp.from_arrow(whole.slice(s, 300), label="y")) for s in (0, 300))
    assert dst.read_bytes() == want
    assert smp.decode_request(want, "application/x-recordio-protobuf").features["values"][:, 1].tolist() == (
        np.asarray(whole.column("b").to_pylist()).tolist()
    )


@pytest.mark.parametrize("kind", ["empty", "fifo", "missing"])
def test_what_cannot_be_mapped_is_read(tmp_path: Path, kind: str) -> None:
    import os

    pa = pytest.importorskip("pyarrow")
    path = tmp_path / "in.arrow"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "fifo":
        os.mkfifo(path)
    assert cli._Mapped.open(pa, str(path)) is None
