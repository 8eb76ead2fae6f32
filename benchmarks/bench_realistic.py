"""Payloads as users write them (issue #23): sm_payloads against the reader or writer a user
would pick instead, on text written by pandas, numpy, the csv module, orjson, json.dumps, the
SageMaker SDK and scikit-learn.

Run from the repository root::

    python -m benchmarks.bench_realistic                # full run, ~25 MB per payload, ~7 min
    python -m benchmarks.bench_realistic --quick        # smoke pass, about 300 KB per payload
    python -m benchmarks.bench_realistic --only csv,libsvm --json benchmarks/results/realistic.json

Sections (the payloads are described in ``benchmarks/realistic_payloads.py``):

* **csv**: six writers (pandas float64 / float32 / QUOTE_ALL, numpy.savetxt ``%.17g`` and
  ``%.18e`` with CRLF, csv.writer QUOTE_NONNUMERIC); ``decode_request(body, "text/csv")``
  against ``polars.read_csv`` (the peer, all threads), ``polars.read_csv(...).to_numpy()``
  and ``pyarrow.csv.read_csv``.
* **json** / **jsonl**: every request shape, three number styles, two writers each;
  ``decode_request`` against ``orjson.loads`` (per line for JSON Lines; the peer) and
  ``orjson.loads`` plus building the numpy array (or CSR matrix) a user needs.
* **libsvm**: ``sklearn.datasets.dump_svmlight_file`` output; ``decode_request(body,
  "text/libsvm")`` against ``sklearn.datasets.load_svmlight_file``.
* **responses**: ``decode_response`` of a Linear Learner style ``{"predictions": [...]}``
  and of k-means JSON Lines against ``orjson.loads`` (and orjson plus arrays);
  ``encode_response`` of per-record dicts as JSON, JSON Lines and CSV against
  ``orjson.dumps``.

Correctness first: every decoder's values are compared bit for bit with the exact values
(the values written, where the writer round-trips; else CPython's correctly rounded
``float`` of each token), once per payload before timing. Mismatches are reported in the
tables and the JSON output, not fatal. Timing: ``timeit`` with the garbage collector off,
auto-ranged loops, best of ``--repeat`` runs interleaved round-robin over the contenders of
one payload (``benchmarks/_harness.py``). ``x peer`` is the peer's time over the row's time.

Goals (issue #23): every CSV variant at least as fast as ``polars.read_csv``; every JSON and
JSON Lines shape at least 3x ``orjson.loads``; libsvm at least 3x ``load_svmlight_file``;
response decoding at least 3x ``orjson.loads``; response encoding within 1.5x the time of
``orjson.dumps`` (x peer >= 0.67).
"""

from __future__ import annotations

import argparse
import csv as pycsv
import dataclasses
import gc
import io
import itertools
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp

import sm_payloads as smp
from sm_payloads.formats import _json_layout, _textnum

from . import realistic_payloads as rp
from ._harness import MB, Contender, fmt_ratio, fmt_time, time_contenders

SECTIONS = ("csv", "json", "jsonl", "libsvm", "responses")
ENCODE_GOAL = 1 / 1.5


# ======================================================================================
# Results
# ======================================================================================


@dataclasses.dataclass
class Row:
    section: str
    payload: str
    writer: str
    numbers: str
    nbytes: int
    rows: int
    contender: str
    role: str  # "ours", "peer" or "extra"
    seconds: float
    values: str  # what the correctness check found
    x_peer: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mb_per_s"] = self.nbytes / self.seconds / MB if self.seconds else None
        return d


@dataclasses.dataclass
class Entry:
    """A contender before timing: `compare(output)` says whether its values are exact."""

    name: str
    role: str
    func: Callable[[], Any]
    compare: Callable[[Any], str] | None = None
    nbytes: int | None = None  # bytes it reads or writes, where not the payload's (encoders)


# ======================================================================================
# Bitwise comparison
# ======================================================================================


def _bits(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, np.float64).reshape(-1).view(np.int64)


def diff_dense(got: Any, want: np.ndarray, tokens: list[bytes] | None = None) -> str:
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    bad = np.flatnonzero(_bits(got) != _bits(want))
    if bad.size == 0:
        return "exact"
    i = int(bad[0])
    text = f" (text {tokens[i].decode()!r})" if tokens is not None else ""
    g, w = float(got.reshape(-1)[i]), float(want.reshape(-1)[i])
    return f"{bad.size:,} of {want.size:,} differ; first #{i}{text}: {g!r} vs exact {w!r}"


def diff_csr(got: Any, want: sp.csr_array) -> str:
    got = sp.csr_array(got)
    got.sort_indices()
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if not (np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)):
        return "structure differs"
    return diff_dense(got.data, want.data)


def diff_labels(got: dict[str, Any], want: dict[str, np.ndarray]) -> str:
    if set(got) != set(want):
        return f"keys {sorted(got)} != {sorted(want)}"
    out = {k: diff_dense(got[k], v) for k, v in want.items()}
    bad = {k: v for k, v in out.items() if v != "exact"}
    return "exact" if not bad else "; ".join(f"{k}: {v}" for k, v in bad.items())


# ======================================================================================
# Running one payload
# ======================================================================================


def run_payload(
    section: str, p: rp.Payload, entries: list[Entry], repeat: int, quick: bool, log: Callable[[str], None]
) -> list[Row]:
    """Check every entry once, then time the ones that ran, interleaved."""
    checked: list[tuple[Entry, str]] = []
    for e in entries:
        out = None
        try:
            out = e.func()
            verdict = e.compare(out) if e.compare is not None else "-"
        except Exception as exc:
            verdict = f"error: {type(exc).__name__}: {exc}"[:200]
        checked.append((e, verdict))
        del out
    gc.collect()
    runnable = [(e, v) for e, v in checked if not v.startswith("error")]
    timed = time_contenders(
        [Contender(e.name, e.func, p.rows, e.nbytes or len(p.body), e.role) for e, _ in runnable],
        repeat,
        quick,
    )
    seconds = {e.name: s for (e, _), (s, _) in zip(runnable, timed, strict=True)}
    rows = [
        Row(
            section,
            p.name,
            p.writer,
            p.numbers,
            e.nbytes or len(p.body),
            p.rows,
            e.name,
            e.role,
            seconds.get(e.name, 0.0),
            v,
        )
        for e, v in checked
    ]
    peer = next((r for r in rows if r.role == "peer"), None)
    for r in rows:
        if peer is not None and peer.seconds and r.seconds:
            r.x_peer = peer.seconds / r.seconds
    ours = next(r for r in rows if r.role == "ours")
    log(
        f"  {section}: {p.name} | {p.writer} | {p.numbers}: "
        f"{len(p.body) / MB:.1f} MB, x peer {fmt_ratio(ours.x_peer)}"
    )
    return rows


# ======================================================================================
# CSV
# ======================================================================================


def csv_entries(p: rp.Payload) -> list[Entry]:
    import polars as pl
    import pyarrow as pa
    import pyarrow.csv as pacsv

    body = p.body
    exact, tokens = rp.exact_csv(body)
    opts = pacsv.ReadOptions(autogenerate_column_names=True)

    def arrow_numpy(t: Any) -> np.ndarray:
        return np.column_stack([c.to_numpy() for c in t.columns])

    return [
        Entry(
            "sm_payloads decode_request",
            "ours",
            lambda: smp.decode_request(body, "text/csv").features["values"],
            lambda out: diff_dense(out, exact, tokens),
        ),
        Entry(
            "polars.read_csv",
            "peer",
            lambda: pl.read_csv(body, has_header=False),
            lambda out: diff_dense(out.to_numpy(), exact, tokens),
        ),
        Entry("polars.read_csv + to_numpy", "extra", lambda: pl.read_csv(body, has_header=False).to_numpy()),
        Entry(
            "pyarrow.csv.read_csv",
            "extra",
            lambda: pacsv.read_csv(pa.BufferReader(body), read_options=opts),
            lambda out: diff_dense(arrow_numpy(out), exact, tokens),
        ),
    ]


def csv_section(
    target: float, repeat: int, quick: bool, log: Callable[[str], None]
) -> tuple[list[Row], list[dict[str, Any]]]:
    rows: list[Row] = []
    notes = []
    for name, (_, _, roundtrip) in rp.CSV_WRITERS.items():
        n = rp.rows_for(lambda r, name=name: rp.csv_payload(name, r), target)
        p = rp.csv_payload(name, n)
        if roundtrip:  # the writer printed every float64 so that it reads back exactly
            notes.append(
                {
                    "payload": name,
                    "text reads back to the values written": diff_dense(rp.exact_csv(p.body)[0], p.expected),
                }
            )
        rows += run_payload("csv", p, csv_entries(p), repeat, quick, log)
        del p
        gc.collect()
    return rows, notes


# ======================================================================================
# JSON and JSON Lines
# ======================================================================================


def orjson_csr(instances: list[dict[str, Any]]) -> sp.csr_array:
    feats = [i["data"]["features"] for i in instances]
    keys = [f["keys"] for f in feats]
    vals = [f["values"] for f in feats]
    indptr = np.zeros(len(keys) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, keys), np.int64, len(keys)), out=indptr[1:])
    nnz = int(indptr[-1])
    indices = np.fromiter(itertools.chain.from_iterable(keys), np.int32, nnz)
    data = np.fromiter(itertools.chain.from_iterable(vals), np.float64, nnz)
    return sp.csr_array((data, indices, indptr), shape=(len(keys), feats[0]["shape"][0]))


def orjson_array(shape: str, body: bytes) -> Any:
    """What a user writes: orjson.loads, then one numpy array (or CSR matrix)."""
    doc = orjson.loads(body)
    if shape == rp.SPARSE_SHAPE:
        return orjson_csr(doc["instances"])
    if shape == rp.JSON_SHAPES[0]:
        return np.array(doc["instances"], np.float64)
    if shape == rp.JSON_SHAPES[1]:
        return np.array([i["features"] for i in doc["instances"]], np.float64)
    if shape == rp.JSON_SHAPES[2]:
        return np.array([i["data"]["features"]["values"] for i in doc["instances"]], np.float64)
    return np.array(doc, np.float64)


def orjson_lines(body: bytes) -> list[Any]:
    return [orjson.loads(line) for line in body.splitlines()]


def orjson_lines_array(shape: str, body: bytes) -> np.ndarray:
    items = orjson_lines(body)
    if shape == rp.JSONL_SHAPES[1]:
        items = [i["features"] for i in items]
    return np.array(items, np.float64)


def json_entries(p: rp.Payload) -> list[Entry]:
    body, shape, want = p.body, p.name, p.expected
    sparse = shape == rp.SPARSE_SHAPE

    def cmp(out: Any) -> str:
        return diff_csr(out, want) if sparse else diff_dense(out, want)

    if p.family == "json":
        return [
            Entry(
                "sm_payloads decode_request",
                "ours",
                lambda: smp.decode_request(body, "application/json").features["values"],
                cmp,
            ),
            Entry("orjson.loads", "peer", lambda: orjson.loads(body)),
            Entry(
                "orjson.loads + csr_array" if sparse else "orjson.loads + np.array",
                "extra",
                lambda: orjson_array(shape, body),
                cmp,
            ),
        ]
    return [
        Entry(
            "sm_payloads decode_request",
            "ours",
            lambda: smp.decode_request(body, "application/jsonlines").features["values"],
            cmp,
        ),
        Entry("orjson.loads per line", "peer", lambda: orjson_lines(body)),
        Entry("orjson.loads per line + np.array", "extra", lambda: orjson_lines_array(shape, body), cmp),
    ]


def sdk_serializers() -> tuple[Any, Any] | None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    logging.getLogger("sagemaker.config").setLevel(logging.ERROR)
    try:
        from sagemaker.serializers import JSONLinesSerializer, JSONSerializer
    except ImportError:
        return None
    return JSONSerializer(), JSONLinesSerializer()


def check_sdk_writers() -> dict[str, str]:
    """The json.dumps payloads are byte for byte what the SDK's serializers write."""
    sdk = sdk_serializers()
    if sdk is None:
        return {"sdk": "not installed; json.dumps payloads not compared with the SDK"}
    json_ser, lines_ser = sdk
    out = {}
    for shape in rp.JSON_SHAPES:
        doc, _ = rp.json_document(shape, 50, "full precision")
        ours = rp.json_payload(shape, 50, "full precision", rp.JSON_WRITERS[1]).body
        out[f"JSONSerializer {shape}"] = (
            "same bytes" if json_ser.serialize(doc).encode() == ours else "DIFFERENT"
        )
    X = rp.features(50)
    bare = json_ser.serialize(X).encode()  # an ndarray: json.dumps(X.tolist())
    same = bare == rp.json_payload(rp.JSON_SHAPES[4], 50, "full precision", rp.JSON_WRITERS[1]).body
    out["JSONSerializer(ndarray)"] = "same bytes" if same else "DIFFERENT"
    for shape in rp.JSONL_SHAPES:
        items, _ = rp.jsonl_items(shape, 50, "full precision")
        ours = rp.jsonl_payload(shape, 50, "full precision", rp.JSONL_WRITERS[1]).body
        out[f"JSONLinesSerializer {shape}"] = (
            "same bytes" if lines_ser.serialize(items).encode() == ours else "DIFFERENT"
        )
    return out


def json_section(
    family: str, target: float, repeat: int, quick: bool, log: Callable[[str], None]
) -> list[Row]:
    shapes, writers, make = (
        (rp.JSON_SHAPES, rp.JSON_WRITERS, rp.json_payload)
        if family == "json"
        else (rp.JSONL_SHAPES, rp.JSONL_WRITERS, rp.jsonl_payload)
    )
    rows: list[Row] = []
    for shape in shapes:
        for numbers in rp.NUMBER_STYLES:
            for writer in writers:
                n = rp.rows_for(lambda r, s=shape, m=numbers, w=writer: make(s, r, m, w), target)
                p = make(shape, n, numbers, writer)
                rows += run_payload(family, p, json_entries(p), repeat, quick, log)
                del p
                gc.collect()
    return rows


# ======================================================================================
# libsvm
# ======================================================================================


def libsvm_section(
    target: float, repeat: int, quick: bool, log: Callable[[str], None]
) -> tuple[list[Row], dict[str, str]]:
    from sklearn.datasets import load_svmlight_file

    p = rp.libsvm_payload(rp.rows_for(rp.libsvm_payload, target))
    body = p.body
    X, y = p.expected
    labels, values = rp.exact_libsvm(body)
    exact = sp.csr_array((values, X.indices, X.indptr), shape=X.shape)
    notes = {  # sklearn prints "%.16g", which does not read back to every float64 it was given
        "float64 values given to the writer vs the exact values of its text": diff_csr(X, exact),
        "labels": diff_dense(y, labels),
    }

    def cmp(out: tuple[Any, Any]) -> str:
        a, b = diff_csr(out[0], exact), diff_dense(out[1], labels)
        return a if a == b == "exact" else f"values: {a}; labels: {b}"

    def ours() -> tuple[Any, Any]:
        b = smp.decode_request(body, "text/libsvm")
        return b.features["values"], b.label["values"]

    entries = [
        Entry("sm_payloads decode_request", "ours", ours, cmp),
        Entry(
            "sklearn load_svmlight_file",
            "peer",
            lambda: load_svmlight_file(io.BytesIO(body), zero_based=True),
            cmp,
        ),
    ]
    return run_payload("libsvm", p, entries, repeat, quick, log), notes


# ======================================================================================
# Responses
# ======================================================================================


def response_decode_rows(records: int, repeat: int, quick: bool, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    p = rp.predictions_payload(records)
    body, want = p.body, p.expected

    def arrays(items: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        return {k: np.array([i[k] for i in items], np.float64) for k in items[0]}

    rows += run_payload(
        "response decode",
        p,
        [
            Entry(
                "sm_payloads decode_response",
                "ours",
                lambda: dict(smp.decode_response(body, "application/json").label),
                lambda out: diff_labels(out, want),
            ),
            Entry("orjson.loads", "peer", lambda: orjson.loads(body)),
            Entry(
                "orjson.loads + np.array per key",
                "extra",
                lambda: arrays(orjson.loads(body)["predictions"]),
                lambda out: diff_labels(out, want),
            ),
        ],
        repeat,
        quick,
        log,
    )
    q = rp.kmeans_payload(records)
    kbody, kwant = q.body, q.expected
    rows += run_payload(
        "response decode",
        q,
        [
            Entry(
                "sm_payloads decode_response",
                "ours",
                lambda: dict(smp.decode_response(kbody, "application/jsonlines").label),
                lambda out: diff_labels(out, kwant),
            ),
            Entry("orjson.loads per line", "peer", lambda: orjson_lines(kbody)),
            Entry(
                "orjson.loads per line + np.array per key",
                "extra",
                lambda: arrays(orjson_lines(kbody)),
                lambda out: diff_labels(out, kwant),
            ),
        ],
        repeat,
        quick,
        log,
    )
    return rows


def response_encode_rows(records: int, repeat: int, quick: bool, log: Callable[[str], None]) -> list[Row]:
    recs = rp.response_records(records)
    keys = list(recs[0])
    envelope = orjson.dumps({"predictions": recs})
    lines = b"".join(orjson.dumps(r) + b"\n" for r in recs)

    def csv_writer() -> bytes:
        out = io.StringIO()
        pycsv.writer(out, lineterminator="\n").writerows([r[k] for k in keys] for r in recs)
        return out.getvalue().encode()

    def same_as(reference: bytes, parse: Callable[[bytes], Any], who: str) -> Callable[[bytes], str]:
        def cmp(out: bytes) -> str:
            if out == reference:
                return f"same bytes as {who}"
            return "same values, other spelling" if parse(out) == parse(reference) else "VALUES DIFFER"

        return cmp

    def csv_values(b: bytes) -> list[list[float]]:
        return [[float(t) for t in line.split(b",")] for line in b.splitlines()]

    rows: list[Row] = []
    cases = [
        (
            "JSON {predictions: [...]}",
            "application/json",
            "orjson.dumps({'predictions': records})",
            lambda: orjson.dumps({"predictions": recs}),
            same_as(envelope, orjson.loads, "orjson"),
        ),
        (
            "JSON Lines",
            "application/jsonlines",
            "orjson.dumps per record + newline",
            lambda: b"".join(orjson.dumps(r) + b"\n" for r in recs),
            same_as(lines, orjson_lines, "orjson"),
        ),
        (
            "CSV",
            "text/csv",
            "orjson.dumps({'predictions': records})",
            lambda: orjson.dumps({"predictions": recs}),
            same_as(csv_writer(), csv_values, "csv.writer"),
        ),
    ]
    for name, accept, peer_name, peer, cmp in cases:
        body = smp.encode_response(recs, accept)
        p = rp.Payload(
            "response encode",
            f"{records:,} dicts {{score, predicted_label}} as {name}",
            "-",
            "Python floats and ints",
            body,
            records,
            None,
        )
        entries = [
            Entry("sm_payloads encode_response", "ours", lambda a=accept: smp.encode_response(recs, a), cmp),
            Entry(peer_name, "peer", peer, nbytes=len(peer())),
        ]
        if accept == "text/csv":
            entries.append(
                Entry("csv.writer of the dict values", "extra", csv_writer, cmp, len(csv_writer()))
            )
        rows += run_payload("response encode", p, entries, repeat, quick, log)
    return rows


# ======================================================================================
# Tables
# ======================================================================================

PEERS = {
    "csv": "polars.read_csv",
    "json": "orjson.loads",
    "jsonl": "orjson.loads per line",
    "libsvm": "load_svmlight_file",
    "response decode": "orjson.loads",
    "response encode": "orjson.dumps",
}


def section_table(rows: list[Row]) -> str:
    lines = [
        "| payload | writer | numbers | MB | rows | contender | time/call | MB/s | x peer | values |",
        "|---|---|---|--:|--:|---|--:|--:|--:|---|",
    ]
    for r in rows:
        t = fmt_time(r.seconds) if r.seconds else "-"
        rate = f"{r.nbytes / r.seconds / MB:,.0f}" if r.seconds else "-"
        payload = r.payload.replace("|", "\\|")
        mb = f"{r.nbytes / MB:.{1 if r.nbytes >= MB else 2}f}"
        lines.append(
            f"| {payload} | {r.writer} | {r.numbers} | {mb} | {r.rows:,} | {r.contender} | "
            f"{t} | {rate} | {fmt_ratio(r.x_peer if r.x_peer == r.x_peer else None)} | {r.values} |"
        )
    return "\n".join(lines)


def is_exact(values: str) -> bool:
    return values == "exact" or values.startswith("same ")


@dataclasses.dataclass
class Goal:
    what: str
    measured: float
    want: float
    worst: str  # which payload gave the measured (worst) ratio
    best: float
    payloads: int
    values: str

    @property
    def passed(self) -> bool:
        return self.measured >= self.want

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["passed"] = self.passed
        return d


def goals(rows: list[Row]) -> list[Goal]:
    ours = [r for r in rows if r.role == "ours"]
    groups: dict[tuple[str, float], list[Row]] = {}
    for r in ours:
        if r.section == "csv":
            key = (f"CSV {r.payload} vs polars.read_csv", 1.0)
        elif r.section == "json":
            key = (f"JSON {r.payload} vs orjson.loads", 3.0)
        elif r.section == "jsonl":
            key = (f"JSON Lines {r.payload} vs orjson.loads per line", 3.0)
        elif r.section == "libsvm":
            key = ("libsvm (sklearn dump_svmlight_file) vs load_svmlight_file", 3.0)
        elif r.section == "response decode":
            key = (f"decode_response {r.payload} vs orjson.loads", 3.0)
        else:
            key = (
                f"encode_response {r.payload.split(' as ')[-1]} vs orjson.dumps (time within 1.5x)",
                ENCODE_GOAL,
            )
        groups.setdefault(key, []).append(r)
    out = []
    for (what, want), rs in groups.items():
        ratios = [(r.x_peer if r.x_peer == r.x_peer else 0.0) for r in rs]
        worst = min(range(len(rs)), key=lambda i: ratios[i])
        w = rs[worst]
        bad = [r for r in rs if not is_exact(r.values)]
        values = "exact" if not bad else f"{len(bad)} of {len(rs)} payloads not exact"
        out.append(
            Goal(
                what,
                ratios[worst],
                want,
                f"{w.writer}, {w.numbers}" if len(rs) > 1 else "",
                max(ratios),
                len(rs),
                values,
            )
        )
    return out


def goals_table(gs: list[Goal]) -> str:
    lines = [
        "| goal | payloads | measured (worst) | worst payload | best | wanted | values | result |",
        "|---|--:|--:|---|--:|--:|---|---|",
    ]
    for g in gs:
        lines.append(
            f"| {g.what} | {g.payloads} | {fmt_ratio(g.measured)} | {g.worst or '-'} | {fmt_ratio(g.best)} | "
            f">= {g.want:.2g}x | {g.values} | {'PASS' if g.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


# ======================================================================================
# Environment
# ======================================================================================


def _sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def environment() -> dict[str, Any]:
    import pandas
    import polars
    import pyarrow
    import sklearn

    env: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "orjson": orjson.__version__,
        "polars": polars.__version__,
        "polars_threads": polars.thread_pool_size(),
        "pyarrow": pyarrow.__version__,
        "pyarrow_cpu_count": pyarrow.cpu_count(),
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "sm_payloads": smp.__version__,
        "c_extension": "loaded" if _textnum._C is not None and _json_layout._C is not None else "not loaded",
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "commit": _sh("git", "rev-parse", "--short", "HEAD"),
        "uncommitted_in_sm_payloads": _sh("git", "status", "--porcelain", "sm_payloads").replace("\n", "; "),
        "loadavg_start": _loadavg(),
    }
    sdk = sdk_serializers()
    if sdk is not None:
        import sagemaker

        env["sagemaker"] = sagemaker.__version__
    return env


# ======================================================================================
# Main
# ======================================================================================


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_realistic", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="~300 KB payloads, 2,000 response records, one call per run"
    )
    ap.add_argument("--json", metavar="FILE", help="also write environment, rows, checks and goals as JSON")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per contender (default 3; 1 quick)")
    ap.add_argument("--mb", type=float, default=None, help="size of each request payload in MB (default 25)")
    ap.add_argument("--records", type=int, default=None, help="response records (default 100,000)")
    ap.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}"
    )
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    target = (args.mb or (0.3 if args.quick else 25.0)) * MB
    records = args.records or (2_000 if args.quick else rp.RESPONSE_RECORDS)
    repeat = args.repeat or (1 if args.quick else 3)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    env = environment()
    env.update(target_mb=target / MB, response_records=records, repeat=repeat, quick=args.quick)
    print("# Payloads as users write them (issue #23)\n")
    for k, v in env.items():
        print(f"* {k}: {v}")
    started = time.perf_counter()
    rows: list[Row] = []
    checks: dict[str, Any] = {}
    if "json" in only or "jsonl" in only:
        checks["sdk writers"] = check_sdk_writers()
    if "csv" in only:
        r, notes = csv_section(target, repeat, args.quick, log)
        rows += r
        checks["csv writers"] = notes
    for family in ("json", "jsonl"):
        if family in only:
            rows += json_section(family, target, repeat, args.quick, log)
    if "libsvm" in only:
        r, note = libsvm_section(target, repeat, args.quick, log)
        rows += r
        checks["libsvm writer"] = note
    if "responses" in only:
        rows += response_decode_rows(records, repeat, args.quick, log)
        rows += response_encode_rows(records, repeat, args.quick, log)
    env["loadavg_end"] = _loadavg()
    env["seconds"] = round(time.perf_counter() - started, 1)

    for section in dict.fromkeys(r.section for r in rows):
        print(f"\n## {section} (peer: {PEERS[section]})\n")
        print(section_table([r for r in rows if r.section == section]))
    gs = goals(rows)
    print("\n## Goals\n")
    print(goals_table(gs))
    print("\n## Checks of the writers\n")
    print(json.dumps(checks, indent=2))
    mismatches = [r for r in rows if r.values != "-" and not is_exact(r.values)]
    print(f"\n{len(mismatches)} contender rows with values other than exact")
    for r in mismatches:
        print(f"* {r.section} | {r.payload} | {r.writer} | {r.numbers} | {r.contender}: {r.values}")
    print(
        f"\nload average {env['loadavg_start']} at the start, {env['loadavg_end']} at the end; "
        f"{env['seconds']} s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "environment": env,
                    "rows": [r.as_dict() for r in rows],
                    "goals": [g.as_dict() for g in gs],
                    "checks": checks,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
