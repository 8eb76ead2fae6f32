"""A model's numbers as a response: an array is the output ``label["values"]``.

`smp.encode_response` takes a numpy array (1-D is one record, as everywhere), a sparse
matrix or nested lists as the output ``label["values"]``; `smp.serving.handle` reads a 1-D
array with one value per request record as one scalar output per record (what
``model.predict(X)`` returns). The expected bytes are written out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import sm_payloads as smp
from sm_payloads import serving


def test_an_array_is_the_output_values_of_its_rows() -> None:
    scores = np.array([[0.5, 1.5], [2.0, -0.0]])
    assert smp.encode_response(scores, "text/csv") == b"0.5,1.5\n2.0,-0.0\n"
    assert smp.encode_response(scores, "application/json") == (
        b'{"predictions":[{"values":[0.5,1.5]},{"values":[2.0,-0.0]}]}'
    )
    assert smp.encode_response(scores, "application/jsonlines") == (
        b'{"values":[0.5,1.5]}\n{"values":[2.0,-0.0]}\n'
    )
    back = smp.decode_response(
        smp.encode_response(scores, "application/x-recordio-protobuf"), "application/x-recordio-protobuf"
    )
    assert back.features == {} and back.label["values"].tolist() == [[0.5, 1.5], [2.0, -0.0]]


def test_a_1d_array_is_one_record_and_csv_reads_it_back() -> None:
    one = np.array([1.0, 2.0, 3.0], np.float32)
    body = smp.encode_response(one, "text/csv")
    assert body == b"1.0,2.0,3.0\n"
    assert smp.decode_response(body, "text/csv").label["values"].tolist() == [[1.0, 2.0, 3.0]]
    assert smp.encode_response([[1, 2]], "text/csv") == b"1,2\n"


def test_a_sparse_response_is_the_output_values() -> None:
    m = sp.csr_array(np.array([[0.0, 2.0], [1.0, 0.0]]))
    batch = smp.arrays.to_batch(m, response=True)
    assert list(batch.features) == [] and list(batch.label) == ["values"]
    assert batch.label["values"].toarray().tolist() == [[0.0, 2.0], [1.0, 0.0]]


def test_named_vector_outputs_stay_one_bracketed_field() -> None:
    out = smp.RecordBatch(label={"probabilities": np.array([[0.2, 0.8]], np.float32)})
    assert smp.encode_response(out, "text/csv") == b'"[0.2, 0.8]"\n'


@pytest.mark.parametrize(
    ("accept", "body"),
    [
        ("text/csv", b"3.0\n7.0\n11.0\n"),
        ("application/json", b'{"predictions":[{"values":3.0},{"values":7.0},{"values":11.0}]}'),
        ("application/jsonlines", b'{"values":3.0}\n{"values":7.0}\n{"values":11.0}\n'),
    ],
)
def test_serving_reads_one_value_per_record_as_a_scalar_output(accept: str, body: bytes) -> None:
    answer = serving.handle(
        b"1,2\n3,4\n5,6\n", "text/csv", accept, lambda b: b.to_numpy().sum(axis=1), env={}
    )
    assert (answer.status, answer.body) == (200, body)


def test_serving_writes_a_2d_prediction_as_rows() -> None:
    answer = serving.handle(b"1,2\n3,4\n", "text/csv", "text/csv", lambda b: b.to_numpy() * 2, env={})
    assert (answer.status, answer.body) == (200, b"2.0,4.0\n6.0,8.0\n")


def test_serving_keeps_a_1d_array_of_another_length_one_record() -> None:
    answer = serving.handle(
        b"1,2\n3,4\n", "text/csv", "text/csv", lambda b: np.array([1.0, 2.0, 3.0]), env={}
    )
    assert (answer.status, answer.body) == (200, b"1.0,2.0,3.0\n")
