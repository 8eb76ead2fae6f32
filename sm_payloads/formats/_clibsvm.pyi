from typing_extensions import Buffer

def parse(
    data: Buffer,
    lo: int,
    hi: int,
    index_base: int,
    num_features: int,
    f32: bool,
    has_label: int,
    has_qid: int,
    counts: Buffer,
    cols: Buffer,
    values: Buffer,
    labels: Buffer,
    qids: Buffer,
    /,
) -> tuple[int, int, int, int, int, int, int] | None: ...
def sizes(data: Buffer, lo: int, hi: int, /) -> tuple[int, int]: ...
