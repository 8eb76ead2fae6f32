from typing import Any

from typing_extensions import Buffer

def json_records(
    data: Buffer, start: int, stop: int, lines: bool, /
) -> tuple[int, list[tuple[str, str, bytearray | list[str], int]]] | None: ...
def dict_rows(rows: list[Any], float64_type: type, float32_type: type, /) -> str | None: ...
