"""An error in the first record of a request (JSON, JSON Lines) is reported from that
record alone, as the general path reports it (message, offset, line, record index): JSON
Lines reads its line only; a JSON document is parsed once (a syntax error anywhere still
comes first) and the error's offset is searched in the record's own bytes, decoding only
the keys the error's path can name (a record of half a million keys costs a few passes,
not a parse per key). Expected outcomes are written out, and every path (C, pure, the
general path forced) must give them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sm_payloads.formats import _json_layout as J
from tests.test_json_general_fast import all_paths

_MANY = b", ".join(b'"k%d": 1.5' % i for i in range(3000))


@pytest.mark.parametrize(
    ("body", "lines", "want"),
    [
        (
            b'{"instances": [{"a": null}, {"a": 1}, {"a": 2}]}',
            False,
            (
                "$.instances[0].a: expected a number, a string, a list or a tensor object, found null",
                21,
                None,
                0,
            ),
        ),
        (
            b'[{"a": 1, "b": [1, "x"]}, {"a": 1, "b": [2]}]',
            False,
            ("$[0].b: expected a list of numbers or of strings, found a string", 19, None, 0),
        ),
        (
            b'{"a": true, ' + _MANY + b"}",
            False,
            ("$.a: expected a number, a string, a list or a tensor object, found true", 6, None, 0),
        ),
        (
            b"{" + _MANY + b', "z": {"values": [1], "bogus": 2}}',
            False,
            (
                "$.z: unexpected key 'bogus' in a tensor object (expected values, keys, shape)",
                len(_MANY) + 24,
                None,
                0,
            ),
        ),
        (
            b'{"\\u0061": null, "b": 1}',  # the key written with an escape
            False,
            ("$.a: expected a number, a string, a list or a tensor object, found null", 11, None, 0),
        ),
        (
            b'[{"a": 1, "a": null}, {"a": 1}]',  # a key twice: the last one is the record's
            False,
            ("$[0].a: expected a number, a string, a list or a tensor object, found null", 15, None, 0),
        ),
        (
            b'[{"a": null}, {"a": 1}, {"a": }]',  # a syntax error later comes first
            False,
            ("invalid JSON: unexpected character, expected a JSON value", 30, 1, None),
        ),
        (
            b'{"a": null}\n{"a": 1}\n{"a": 2}\n',
            True,
            ("$.a: expected a number, a string, a list or a tensor object, found null", 6, 1, 0),
        ),
        (
            b'{"a": null}\n{"a": }\n',  # JSON Lines: the first line's error is the first
            True,
            ("$.a: expected a number, a string, a list or a tensor object, found null", 6, 1, 0),
        ),
    ],
)
def test_the_first_records_error(body: bytes, lines: bool, want: tuple[Any, ...]) -> None:
    assert all_paths(body, lines) == ("error", *want)


def test_the_offset_search_decodes_only_the_keys_a_path_names() -> None:
    body = b'{"k1": 1, "k2": 2, "k\\u0031": 3, "k11": 4}'
    st_ = J._Structure(body, 0, len(body))
    assert st_.members(0, {"k1"}) == [("k1", 1, 7), ("k1", 19, 30)]
    assert [m[0] for m in st_.members(0)] == ["k1", "k2", "k1", "k11"]
    assert st_.members(0, {"zz"}) == []


def test_a_container_ends_where_it_closes() -> None:
    rec = b'{"a": "}]", "b": [1, {"c": "\\"}"}]}'
    body = b"[" + rec + b", " + b"[1]" * 5000 + b"]"
    assert J.container_end(body, 1, len(body)) == 1 + len(rec)
    assert J.container_end(body, 1, 10) is None  # not closed before the end given


@given(
    st.lists(st.sampled_from(["a", "b", "c.d", "e[0]"]), min_size=1, max_size=4, unique=True),
    st.sampled_from([b"null", b"true", b'{"x": 1}', b'[1, "s"]', b"[[1], 2, [3]]"]),
    st.booleans(),
)
def test_a_bad_value_among_good_keys(keys: list[str], bad: bytes, lines: bool) -> None:
    import json

    good = b", ".join(json.dumps(k).encode() + b": 1" for k in keys[1:])
    rec = b"{" + json.dumps(keys[0]).encode() + b": " + bad + (b", " + good if good else b"") + b"}"
    body = rec + b"\n" + b'{"a": 1}\n' if lines else b"[" + rec + b', {"a": 1}]'
    got = all_paths(body, lines)
    assert isinstance(got, tuple) and got[0] == "error" and got[4] == 0


# --------------------------------------------------------------------------------------
# The validity pass (``_cjsonrec.json_valid``): "certainly valid" only where orjson parses
# --------------------------------------------------------------------------------------

needs_c = pytest.mark.skipif(J._CREC is None, reason="the C extension is not built")


@needs_c
@pytest.mark.parametrize(
    ("text", "want"),
    [
        (b'[1, -0, 2.5e-3, true, false, null, "a\\u00e9\\n", {}]', -1),
        (b' {"a": 1, "b": {"c": [2]}} ', 2),
        (b"{}", 0),
        (b'"\xc3\xa9"', -1),
        (b'{"a": }', -2),
        (b"[1,]", -2),
        (b"01", -2),
        (b"1.", -2),
        (b"1e400", -2),  # orjson refuses it: out of the float64 range
        (b"1e300", -1),
        (b"99999999999999999999e300", -2),  # 1e320: out of the range
        (b"9999999e300", -1),  # below 1e307
        (b"99999999e300", -2),
        (b"0.00001e-300", -1),  # underflows, as orjson reads it
        (b"123456789012345678901", -2),  # 21 integer digits: not sure
        (b'"\\ud83d\\ude00"', -2),  # a surrogate pair: left to orjson
        (b'"\xed\xa0\x80"', -2),  # a surrogate in UTF-8
        (b'"\xc0\x80"', -2),  # an overlong form
        (b'"\xf4\x90\x80\x80"', -2),  # past U+10FFFF
        (b'"\t"', -2),
        (b"[" * 512 + b"]" * 512, -1),
        (b"[" * 513 + b"]" * 513, -2),
        (b"\xef\xbb\xbf[]", -2),  # the caller skips a byte order mark
        (b"NaN", -2),
        (b"[1] x", -2),
    ],
)
def test_json_valid(text: bytes, want: int) -> None:
    assert J._CREC.json_valid(text, 0, len(text)) == want


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=12,
)


@needs_c
@given(
    _json_values,
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(list(b'{}[]",:0.eE+-\\ \xc3\xff'))), max_size=3
    ),
)
def test_certainly_valid_only_where_orjson_parses(value: Any, edits: list[tuple[int, int]]) -> None:
    import json

    import orjson

    text = bytearray(json.dumps(value, ensure_ascii=False).encode())
    for at, byte in edits:
        at %= len(text) + 1
        if byte % 2:
            text.insert(at, byte)
        elif at < len(text):
            text[at] = byte
    text = bytes(text)
    got = J._CREC.json_valid(text, 0, len(text))
    if got != -2:
        parsed = orjson.loads(text)  # parses: "certainly valid" is never wrong
        assert got == (-1 if type(parsed) is not dict else got)
        assert got == -1 or len(parsed) <= got  # (a key twice: orjson keeps one)


_NULL = "a number, a string, a list or a tensor object, found null"


@pytest.mark.parametrize(
    ("body", "want"),
    [
        # another key beside "instances": orjson decides, and the record's error is found
        (
            b'{"instances": [{"a": 1}, {"a": null}], "configuration": {"k": 1}}',
            ("error", f"$.instances[1].a: expected {_NULL}", 31, None, 1),
        ),
        (
            b'[{"a": 1}, {"a": 1e400}]',  # not surely valid: orjson decides
            ("error", "invalid JSON: number is infinity when parsed as double", 17, 1, None),
        ),
        (b'[{"a": 1}, {"b": "\\ud800"}]', ("error", "invalid JSON: no low surrogate in string", 18, 1, None)),
        (
            b'[{"a": 1}, {"a": [1, {"b": 2}]}, {"a": }]',  # a syntax error after the record
            ("error", "invalid JSON: unexpected character, expected a JSON value", 39, 1, None),
        ),
        (
            b'[{"a": 1}, {"a": [1, {"b": 2}]}]',
            ("error", "$[1].a: expected a list of numbers or of strings, found an object", 21, None, 1),
        ),
    ],
)
def test_records_after_the_first(body: bytes, want: tuple[Any, ...]) -> None:
    assert all_paths(body, False) == want


def test_instances_twice_is_the_last() -> None:
    body = b'{"instances": [{"a": 1}, {"a": null}], "instances": [{"a": 2}]}'
    got = all_paths(body, False)
    assert not isinstance(got, tuple) and got.features["a"].tolist() == [2.0]


# --------------------------------------------------------------------------------------
# Responses: the record the column reader stopped in, parsed alone
# --------------------------------------------------------------------------------------

_GOOD = b'{"score": 0.5, "label": "a"}'


@pytest.mark.parametrize(
    ("body", "lines", "want"),
    [
        (
            b'{"predictions": [' + b", ".join([_GOOD] * 3 + [b'{"score": null}']) + b"]}",
            False,
            (
                "$.predictions[3].score: expected a number, a string, a list or a tensor object, found null",
                117,
                None,
                3,
            ),
        ),
        (
            b"[" + _GOOD + b', {"score": true, "label": "b"}]',
            False,
            ("$[1].score: expected a number, a string, a list or a tensor object, found true", 41, None, 1),
        ),
        (
            b'{"predictions": [{"score": {"x": 1}}]}',
            False,
            (
                "$.predictions[0].score: unexpected key 'x' in a tensor object"
                " (expected values, keys, shape)",
                28,
                None,
                0,
            ),
        ),
        (
            _GOOD + b'\n{"score": null}\n' + _GOOD + b"\n",
            True,
            ("$.score: expected a number, a string, a list or a tensor object, found null", 39, 2, 1),
        ),
    ],
)
def test_a_responses_record_error(body: bytes, lines: bool, want: tuple[Any, ...]) -> None:
    assert all_paths(body, lines, response=True) == ("error", *want)


@pytest.mark.parametrize(
    "body",
    [
        # envelopes the record alone cannot decide: orjson and the general path do
        b'{"predictions": [{"score": 1}, {"score": null}], "extra": 1}',
        b'{"projections": [{"score": 1}, {"score": null}]}',
        b'{"scores": [{"score": 1}, {"score": null}, 3]}',
        b'[{"score": 1}, {"score": null}, {"score": }]',
        b'[{"score": 1}, {"score": null, "x": 1e400}]',
    ],
)
def test_response_envelopes_left_to_the_general_path(body: bytes) -> None:
    got = all_paths(body, False, response=True)
    assert isinstance(got, tuple) and got[0] == "error"
