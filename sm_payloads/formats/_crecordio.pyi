from typing import Literal, overload

from typing_extensions import Buffer

def walk(
    buf: Buffer, starts: Buffer, lengths: Buffer, /
) -> tuple[list[tuple[int, bytes, int]], bytearray] | None: ...
def gather(buf: Buffer, starts: Buffer, lengths: Buffer, out: Buffer, /) -> bool: ...
def varints(
    buf: Buffer,
    starts: Buffer,
    lengths: Buffer,
    counts: Buffer | None,
    out: Buffer,
    out_counts: Buffer | None,
    /,
) -> int: ...
def keys32(
    buf: Buffer, starts: Buffer, lengths: Buffer, counts: Buffer, out: Buffer, bound: int, /
) -> int: ...
def same_gaps(
    buf: Buffer,
    start: int,
    stride: int,
    n: int,
    gaps: list[tuple[int, int]],
    cols: list[tuple[int, int, Buffer]],
    /,
) -> bool: ...
def strings(
    buf: Buffer, starts: Buffer, lengths: Buffer, /
) -> list[str | bytes | list[str | bytes]] | None: ...
def scan(
    buf: Buffer, starts: Buffer, lengths: Buffer, wanted: int, limit: int, /
) -> bytearray | bool | None: ...
def tensor_join(
    buf: Buffer, starts: Buffer, lengths: Buffer, types: Buffer, /
) -> tuple[bytearray, bytearray] | None: ...
def live_keys(buf: Buffer, starts: Buffer, lengths: Buffer, limit: int, named: int = 0, /) -> int: ...
@overload
def entries(
    buf: Buffer, starts: Buffer, lengths: Buffer, full: Literal[False] = ..., /
) -> tuple[list[tuple[int, bytes]], bytearray, bytearray | list[tuple[int, int, int]]] | int | None: ...
@overload
def entries(
    buf: Buffer, starts: Buffer, lengths: Buffer, full: Literal[True], /
) -> (
    tuple[
        list[tuple[int, bytes]],
        bytearray,
        bytearray | list[tuple[int, int, int]],
        tuple[list[str | None] | None, list[str | None] | None, list[str | None] | None],
    ]
    | int
    | None
): ...
