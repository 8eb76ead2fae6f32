"""A SageMaker-style model container in a few lines: a predict function served by
`sm_payloads.server` (``GET /ping``, ``POST /invocations`` and
``/endpoints/<name>/invocations``, ``GET /execution-parameters``), every registered format.

    sm-payloads serve serve:demo_predict --port 8080     # from examples/ (pip install "sm_payloads[serve]")
    python examples/serve.py --port 8080                 # the same, with only the demo's types offered
    curl -s localhost:8080/invocations -H 'Content-Type: text/csv' --data-binary $'1,2\\n3,4\\n'

The demo model scores each record with the mean of its features, as Linear Learner answers.
"""

from __future__ import annotations

import argparse

import numpy as np

import sm_payloads as smp
from sm_payloads.server import asgi_app

#: What the demo model can answer in (it has two outputs: npy carries one array only).
OFFERED = ["application/json", "application/jsonlines", "text/csv", "application/x-recordio-protobuf"]


def demo_predict(batch: smp.RecordBatch) -> smp.RecordBatch:
    """score = mean of the features; predicted_label = score > 0.5 (as Linear Learner answers)."""
    X = batch.to_numpy().astype(np.float64)
    score = X.mean(axis=1) if X.shape[1] else np.zeros(len(batch))
    return smp.RecordBatch(label={"score": score, "predicted_label": (score > 0.5).astype(np.int32)})


#: The ASGI application: ``uvicorn serve:app`` runs it too.
app = asgi_app(demo_predict, offered=OFFERED)

if __name__ == "__main__":
    import uvicorn

    ap = argparse.ArgumentParser(description="Serve the demo model on uvicorn.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)
