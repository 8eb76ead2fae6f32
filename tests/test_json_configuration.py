"""A request document ``{"instances": [...], "configuration": X}`` (either order: DeepAR's
and BlazingText's request-level configuration) is read by the fast routes: the
configuration member is blanked out (so offsets stay the body's), the records are read as
in ``{"instances": [...]}``, and the configuration goes to every record without its own,
as the general path gives it. Bare string records (BlazingText's instances) are read by
the column reader too. Every body gives the general path's outcome on every path;
expected values are written out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from tests.test_json_general_fast import all_paths

_CONF = '{"num_samples":50,"quantiles":["0.5","0.9"]}'


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [{"features": [1, 2]}, {"features": [3, 4]}],'
        b' "configuration": {"num_samples": 50, "quantiles": ["0.5", "0.9"]}}',
        b'{"configuration": {"num_samples": 50, "quantiles": ["0.5", "0.9"]},'
        b' "instances": [{"features": [1, 2]}, {"features": [3, 4]}]}',
        b' {\n "configuration" : {"num_samples":50,"quantiles":["0.5","0.9"]} ,\n'
        b' "instances":[{"features":[1,2]},{"features":[3,4]}]\n} ',
    ],
)
def test_either_order(body: bytes) -> None:
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["values"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert list(got.configuration or []) == [_CONF, _CONF]
    if J._CREC is not None:  # (its validity pass is C's)
        assert JS._with_configuration(body, 0, None) is not None  # the fast route read it


def test_a_records_own_configuration_wins() -> None:
    body = b'{"instances": [{"a": 1, "configuration": "mine"}, {"a": 2}], "configuration": {"k": 2}}'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    assert list(got.configuration or []) == ["mine", '{"k":2}']


def test_blazingtext() -> None:
    body = b'{"instances": ["the quick brown fox", "jumps"], "configuration": {"k": 2}}'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["values"].tolist() == ["the quick brown fox", "jumps"]
    assert list(got.configuration or []) == ['{"k":2}', '{"k":2}']


@pytest.mark.parametrize(
    "body",
    [
        # the word elsewhere: in a string, in the configuration, in a record
        b'{"instances": [{"a": "\\"configuration\\": 1"}],'
        b' "configuration": {"configuration": {"instances": 1}}}',
        b'{"configuration": {"instances": [1], "x": "instances"}, "instances": [{"a": 1}]}',
        b'{"instances": [{"a": 1, "configuration": "c"}]}',
        b'{"instances": [{"a": 1}], "configuration": null}',
        b'{"instances": [{"a": 1}], "configuration": "text"}',
        # the general path's errors
        b'{"instances": [{"a": 1}], "configuration": 5}',
        b'{"instances": [{"a": 1}], "configuration": {"k": 1}, "bogus": 1}',
        b'{"instances": [{"a": null}], "configuration": {"k": 1}}',
        b'{"instances": [{"a": 1}, {"a": "x"}], "configuration": {"k": 1}}',
        b'{"instances": [{"a": 1}], "configuration": {"k": 1}',
        b'{"instances": 1, "configuration": {"k": 1}}',
        b'{"configuration": {"k": 1}, "instances": [{"a": 1}], "configuration": {"k": 2}}',
    ],
)
def test_bodies_against_the_general_path(body: bytes) -> None:
    all_paths(body, False)


@given(
    st.lists(
        st.sampled_from([{"a": 1}, {"a": [1, 2]}, "text", {"a": 2, "configuration": "own"}]),
        min_size=1,
        max_size=5,
    ),
    st.one_of(
        st.none(),
        st.text(max_size=3),
        st.dictionaries(st.sampled_from(["k", "instances", "configuration"]), st.integers(0, 3)),
    ),
    st.booleans(),
)
def test_random_configured_requests(records: list[Any], config: Any, first: bool) -> None:
    doc = (
        {"configuration": config, "instances": records}
        if first
        else {"instances": records, "configuration": config}
    )
    all_paths(json.dumps(doc).encode(), False)
