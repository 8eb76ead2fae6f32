"""proto/record.proto is the source of truth; the generated module must match it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_generated_module_matches_the_proto() -> None:
    # grpcio-tools (it bundles protoc) is a test dependency: without it the comparison
    # cannot run, and that is a failure, not a skip.
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.fail("grpc_tools is missing: install the test dependency group (grpcio-tools)")
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    sys.modules["gen_proto"] = gen
    spec.loader.exec_module(gen)
    committed = (ROOT / "sm_payloads" / "_proto" / "record_pb2.py").read_text(encoding="utf-8")
    assert committed == gen.generate(), "run: python scripts/gen_proto.py"


def test_generated_module_parses_our_bytes() -> None:
    import numpy as np

    import sm_payloads as smp
    from sm_payloads._proto import record_pb2

    data = smp.encode_request(np.array([[1.5, 2.5]], np.float32), "application/x-recordio-protobuf")
    (payload,) = smp.recordio.read_records(data)
    rec = record_pb2.Record.FromString(payload)
    assert list(rec.features["values"].float32_tensor.values) == [1.5, 2.5]
