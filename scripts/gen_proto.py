"""Regenerate sm_payloads/_proto/record_pb2.py from proto/record.proto.

Usage: python scripts/gen_proto.py [--check]

Needs grpcio-tools (it bundles protoc); it is in the `dev` dependency group. With
--check, nothing is written: the exit status is 1 when the committed module differs from
what protoc generates now (tests/test_proto_drift.py runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto" / "record.proto"
TARGET = ROOT / "sm_payloads" / "_proto" / "record_pb2.py"
HEADER = "# Generated from proto/record.proto by scripts/gen_proto.py. Do not edit.\n"


def generate() -> str:
    """Return the text of record_pb2.py as protoc generates it, with our header."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main(["protoc", f"--proto_path={PROTO.parent}", f"--python_out={out}", PROTO.name])
        if rc != 0:
            raise SystemExit(f"protoc failed with status {rc}")
        text = (Path(out) / "record_pb2.py").read_text(encoding="utf-8")
    return HEADER + text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/gen_proto.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
