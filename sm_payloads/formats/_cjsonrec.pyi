from typing import Any, overload

from typing_extensions import Buffer

_Payload = bytearray | bytes | list[str] | tuple[bytearray, bytearray]

def json_records(
    data: Buffer,
    start: int,
    stop: int,
    lines: bool,
    request: bool = False,
    texts: bool = False,
    allow_nan: bool = False,
    /,
) -> tuple[int, list[tuple[str, str, _Payload, int, bytearray | None]]] | None: ...
def ucs4_lines(text: Buffer, n: int, /) -> tuple[bytearray, int] | None: ...
@overload
def dict_rows(rows: list[Any], float64_type: type, float32_type: type, /) -> str | None: ...
@overload
def dict_rows(
    rows: list[Any], float64_type: type, float32_type: type, columns: bool, /
) -> str | tuple[str, list[bytearray | None]] | None: ...
def join_lines(texts: list[bytes], n: int, /) -> bytes | None: ...
def join_rows(
    texts: list[bytes], n: int, sep: int, heads: list[bytes], row_sep: Buffer, /
) -> bytes | None: ...
def array_lines(text: Buffer, /) -> bytes | None: ...
