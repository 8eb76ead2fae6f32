from typing_extensions import Buffer

def records(
    data: Buffer,
    start: int,
    stop: int,
    lines: bool,
    f32: bool,
    nthreads: int = 1,
    piece_min: int = 524288,
    items: bool = False,
    /,
) -> (
    tuple[
        int,
        bytes,
        bytearray,
        bytearray,
        bytearray | None,
        tuple[int, ...] | None,
        bytearray | None,
        bytearray | None,
        int,
    ]
    | None
): ...
def json_lists(
    data: Buffer,
    start: int,
    stop: int,
    sep: Buffer,
    out: Buffer,
    counts: Buffer,
    starts: Buffer,
    newlines: bool,
    /,
) -> tuple[int, int, int, int] | None: ...
