from typing import Any, overload

from typing_extensions import Buffer

def json_records(
    data: Buffer, start: int, stop: int, lines: bool, /
) -> tuple[int, list[tuple[str, str, bytearray | list[str], int]]] | None: ...
@overload
def dict_rows(rows: list[Any], float64_type: type, float32_type: type, /) -> str | None: ...
@overload
def dict_rows(
    rows: list[Any], float64_type: type, float32_type: type, columns: bool, /
) -> str | tuple[str, list[bytearray | None]] | None: ...
