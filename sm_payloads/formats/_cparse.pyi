from collections.abc import Sequence

from typing_extensions import Buffer

FAST_PATH: int

def csv_read(
    data: Buffer, lo: int, hi: int, k: int, out: Buffer, row: int, f32: bool, strict: bool = False, /
) -> tuple[int, int]: ...
def csv_rows(
    pieces: Sequence[bytes], k: int, subs: Sequence[tuple[list[int], list[bytes]] | None], /
) -> bytes | None: ...
def count_newlines(data: Buffer, lo: int, hi: int, /) -> int: ...
def last_record_end(data: Buffer, lo: int, hi: int, /) -> int: ...
def numbers(data: bytes, grammar: int, f32: bool, /) -> bytes | None: ...
def csv_text(
    data: Buffer, lo: int, hi: int, width: int, ascii: bool, cache: list[str | None] | None = None, /
) -> list[str] | None: ...
def text_rows(
    fields: list[str],
    width: int,
    start: int,
    stop: int,
    out: Buffer,
    shared: list[list[str] | None] | None = None,
    /,
) -> None: ...
def csv_text_rows(
    data: Buffer,
    lo: int,
    hi: int,
    width: int,
    ascii: bool,
    cache: list[str | None] | None,
    out: Buffer,
    at: int,
    shared: list[list[str] | None] | None,
    /,
) -> tuple[int, int] | None: ...
def csv_columns(data: Buffer, lo: int, width: int, /) -> tuple[int, list[bytes]] | None: ...
def number_lists(data: Buffer, n: int, /) -> tuple[bytes, bytes] | None: ...
