from collections.abc import Sequence

from typing_extensions import Buffer

def interleave(out: Buffer, offset: int, stride: int, rows: int, parts: Sequence[Buffer], /) -> None: ...
