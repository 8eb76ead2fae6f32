"""Request variants for the serving table in docs/serving.md: what AWS's
sagemaker-inference-toolkit (v1.10.1, default handlers, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
unset unless stated) does with each, and what `smp.serving.handle` answers.

The toolkit column was established by reading the toolkit's source and running its
`Transformer.transform` against a fake model-server context; "500 (unsupported)" is its
catch-all answer (an `UnsupportedFormatError` becomes HTTP 500 with a traceback in the body).
Our column is computed by running the handler; tests/test_serving_table.py pins every row's
exact answer (status, Content-Type, body) in a hand-written table, and checks that
docs/serving.md shows exactly these results.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

import sm_payloads as smp


def _npy(a: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, a)
    return out.getvalue()


def _npy_pickle() -> bytes:
    """A real pickled object array (a harmless dict): what np.load(allow_pickle=True) runs."""
    out = io.BytesIO()
    np.save(out, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return out.getvalue()


X = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
BODIES: dict[str, bytes] = {
    "json": b"[[1, 2], [3, 4]]",
    "instances": b'{"instances": [{"features": [1, 2]}, {"features": [3, 4]}]}',
    "jsonl": b'{"features": [1, 2]}\n{"features": [3, 4]}\n',
    "csv": b"1,2\n3,4",
    "npy": _npy(X),
    "rio": smp.encode_request(X, "application/x-recordio-protobuf"),
    "libsvm": b"1 0:1 1:2\n0 0:3 1:4\n",
    "bad-json": b"{not json",
    "bad-utf8": b"\xff\xfe",
    "empty": b"",
    "ragged": b"[[1, 2], [3]]",
    "csv-header": b"a,b\n1,2",
    "csv-ragged": b"1,2\n3",
    "npy-garbage": b"\x93NUMPY garbage",
    "npy-pickle": _npy_pickle(),
}


@dataclass(frozen=True)
class Case:
    content_type: str | None
    accept: str | None
    body: str
    toolkit: str
    env: dict[str, str] = field(default_factory=dict)
    predict: str = "sum"


J, C = "application/json", "text/csv"
UF = "500 (unsupported)"

CASES: list[Case] = [
    Case(J, J, "json", "200 JSON"),
    Case(J, J, "instances", "200 (the dict becomes a 0-d object array)"),
    Case(C, J, "csv", "200 JSON"),
    Case("application/x-npy", J, "npy", "200 JSON (loaded with allow_pickle=True)"),
    Case("application/jsonlines", J, "jsonl", UF),
    Case("application/x-jsonlines", J, "jsonl", UF),
    Case("application/x-recordio-protobuf", J, "rio", UF),
    Case("text/libsvm", J, "libsvm", UF),
    Case("text/x-libsvm", J, "libsvm", UF),
    Case("application/json; charset=utf-8", J, "json", UF + ": exact string comparison"),
    Case("application/json;charset=UTF-8", J, "json", UF),
    Case('application/json; charset="utf-8"', J, "json", UF),
    Case("text/csv; charset=utf-8", J, "csv", UF),
    Case("Application/JSON", J, "json", UF + ": case-sensitive"),
    Case("APPLICATION/JSON", J, "json", UF),
    Case("text/csv;label_size=0", J, "csv", UF),
    Case("text/csv; label_size=1", J, "csv", UF),
    Case("text/csv;header=present", J, "csv-header", UF),
    Case("text/csv ; charset=utf-8", J, "csv", UF),
    Case(None, J, "json", "500 (unsupported: `Content type None`)"),
    Case("", J, "json", UF),
    Case("csv", J, "csv", UF),
    Case("text/", J, "csv", UF),
    Case("/json", J, "json", UF),
    Case("text/csv;;", J, "csv", UF),
    Case("text/csv; label_size=1; label_size=2", J, "csv", UF + " (duplicate not detected)"),
    Case("image/png", J, "json", UF),
    Case("application/octet-stream", J, "json", UF),
    Case("multipart/form-data; boundary=x", J, "json", UF),
    Case(J, J, "bad-json", "500, JSONDecodeError and traceback in the body"),
    Case(J, J, "bad-utf8", "500, UnicodeDecodeError before input_fn"),
    Case(J, J, "empty", "500, JSONDecodeError"),
    Case(J, J, "ragged", "500, numpy inhomogeneous shape"),
    Case(C, J, "empty", "200, empty array passed to predict_fn"),
    Case(C, J, "csv-header", "200, header row read as data (string array)"),
    Case(C, J, "csv-ragged", "500, genfromtxt error"),
    Case("application/x-npy", J, "npy-garbage", "500, UnpicklingError (pickle fallback enabled)"),
    Case("application/x-npy", J, "npy-pickle", "200 for a real pickle: arbitrary code runs on the server"),
    Case(J, J, "json", "500 with the traceback in the body", predict="raise"),
    Case(J, None, "json", "200 JSON (the env default, application/json when unset)"),
    Case(J, None, "json", "200 CSV", env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": C}),
    Case(J, "", "json", "200 JSON (as missing)"),
    Case(J, "*/*", "json", "200 JSON (the env default)"),
    Case(J, C, "json", "200 CSV"),
    Case(J, "application/x-npy", "json", "200 npy"),
    Case(J, "application/json; charset=utf-8", "json", UF + " after predict_fn ran"),
    Case(J, "application/json, text/csv", "json", "200 JSON (first exact token)"),
    Case(J, "text/csv;q=0.5, application/json", "json", "200 JSON (q ignored; the token never matches)"),
    Case(J, "text/csv, application/json;q=0.9", "json", "200 CSV (first exact token; q ignored)"),
    Case(J, "application/*", "json", UF + ": no wildcards"),
    Case(J, "text/*", "json", UF),
    Case(J, "application/json;q=0", "json", UF),
    Case(J, "application/json;q=0, text/csv", "json", "200 CSV"),
    Case(J, "text/html,application/xhtml+xml,*/*;q=0.8", "json", UF + ": `*/*;q=0.8` is not the wildcard"),
    Case(J, "application/jsonlines; verbose=True", "json", UF),
    Case(J, "application/jsonlines", "json", UF + ": no JSON Lines encoder"),
    Case(J, "image/png", "json", UF),
    Case(J, "text/csv;q=2", "json", UF + " (bad q not detected)"),
    Case(J, "*/*;q=0", "json", UF),
    Case(J, "*/*, text/csv", "json", "200 CSV"),
    Case(J, "*/*, text/html", "json", UF),
    Case(J, "APPLICATION/JSON", "json", UF),
    Case(J, "application/json,", "json", "200 JSON (empty tokens skipped)"),
    Case(J, "application/x-recordio-protobuf", "json", UF),
    Case(
        J,
        None,
        "json",
        UF + " on every request without Accept",
        env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv; charset=utf-8"},
    ),
    Case(J, None, "json", UF, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"}),
    Case("application/json; charset=utf-8", "image/png", "json", UF + " (Content-Type checked first)"),
]


def predict_sum(batch: smp.RecordBatch) -> smp.RecordBatch:
    return smp.RecordBatch(label={"score": batch.to_numpy().astype(np.float64).sum(axis=1)})


def predict_raise(batch: smp.RecordBatch) -> smp.RecordBatch:
    raise RuntimeError("boom: /opt/ml/model/secret.pkl")


PREDICT = {"sum": predict_sum, "raise": predict_raise}


def ours(case: Case) -> tuple[int, str]:
    """(status, what we answer) for a case, by running the handler."""
    r = smp.serving.handle(
        BODIES[case.body], case.content_type, case.accept, PREDICT[case.predict], env=case.env
    )
    if r.status == 200:
        return 200, f"200 {r.content_type}"
    return r.status, f"{r.status}: {r.body.decode().strip()}"
