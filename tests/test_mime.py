"""Media types and Accept negotiation (docs/media-types.md): realistic and hostile headers."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.mime import parse_accept

OFFERED = [
    "application/json",
    "application/jsonlines",
    "text/csv",
    "application/x-recordio-protobuf",
]

CASES = [
    # (Accept header, default, expected)
    (None, None, "application/json"),
    (None, "text/csv", "text/csv"),
    ("", "text/csv", "text/csv"),
    ("   ", None, "application/json"),
    ("*/*", "text/csv", "text/csv"),
    (" */* ", "application/x-recordio-protobuf", "application/x-recordio-protobuf"),
    ("*/*", None, "application/json"),
    ("text/csv", None, "text/csv"),
    ("TEXT/CSV", None, "text/csv"),
    ("text/csv; charset=utf-8", None, "text/csv; charset=utf-8"),
    ("text/csv;label_size=0", None, "text/csv; label_size=0"),
    ("application/json; verbose=true", None, "application/json; verbose=true"),
    ("application/jsonlines; verbose=True", None, "application/jsonlines; verbose=True"),
    ("application/x-recordio-protobuf; verbose=true", None, "application/x-recordio-protobuf; verbose=true"),
    ("application/json;q=0.5, text/csv", None, "text/csv"),
    ("application/json;q=0.5, text/csv;q=0.4", None, "application/json"),
    ("text/csv, application/json", None, "text/csv"),
    ("application/json, text/csv", None, "application/json"),
    ("text/*", None, "text/csv"),
    ("text/*;q=0.1, application/*;q=0.2", None, "application/json"),
    ("application/*", "application/x-recordio-protobuf", "application/x-recordio-protobuf"),
    ("*/*;q=0.1, text/csv", "application/json", "text/csv"),
    ("*/*, text/csv;q=0", "text/csv", "application/json"),
    ("text/csv;q=0, */*", None, "application/json"),
    ("text/html, */*;q=0.8", "text/csv", "text/csv"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None, "application/json"),
    ("application/json;q=1.000", None, "application/json"),
    ("application/json;q=0.001", None, "application/json"),
    ("text/csv;q=1, text/csv;q=0.5;x=1", None, "text/csv"),
    ("text/csv;q=0.5;ext=1", None, "text/csv"),
    ('text/csv;foo="a,b", application/json;q=0.1', None, 'text/csv; foo="a,b"'),
    ("application/json,,text/csv", None, "application/json"),
    ("application/x-jsonlines", None, None),
]


@pytest.mark.parametrize(("accept", "default", "expected"), CASES)
def test_negotiate_table(accept: str | None, default: str | None, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(smp.NotAcceptableError) as e:
            smp.negotiate(accept, OFFERED, default)
        assert e.value.status_hint == 406
        assert e.value.accept == accept and e.value.supported == tuple(OFFERED)
    else:
        assert smp.negotiate(accept, OFFERED, default) == expected


@pytest.mark.parametrize(
    ("accept", "reason"),
    [
        ("text/html", "none of the acceptable types can be produced"),
        ("text/csv;q=0", "none of the acceptable types can be produced"),
        ("*/*;q=0", "none of the acceptable types can be produced"),
        ("csv", "malformed member 'csv': malformed media type"),
        ("text/csv;q=2", "bad q value '2' in 'text/csv;q=2'"),
        ("text/csv;q=0.0001", "bad q value '0.0001' in 'text/csv;q=0.0001'"),
        ("text/csv;q=-1", "bad q value '-1' in 'text/csv;q=-1'"),
        ("text/csv;q", "malformed member 'text/csv;q': malformed parameter at character 8"),
        ("*/csv", "malformed member '*/csv': '*/' needs '*'"),
        (",", "no media range in the header"),
        (
            "text/csv;label_size=1;label_size=2",
            "malformed member 'text/csv;label_size=1;label_size=2': parameter 'label_size' given twice",
        ),
    ],
)
def test_not_acceptable_says_why(accept: str, reason: str) -> None:
    with pytest.raises(smp.NotAcceptableError) as e:
        smp.negotiate(accept, OFFERED, "text/csv")
    assert e.value.reason == reason
    assert str(e.value) == f"Accept {accept!r}: {reason}; supported: {', '.join(OFFERED)}"
    again = pickle.loads(pickle.dumps(e.value))
    assert (again.accept, again.supported, again.reason) == (accept, tuple(OFFERED), reason)


def test_default_must_be_offered_and_offers_must_exist() -> None:
    with pytest.raises(ValueError, match="default 'text/html' is not among the offered types"):
        smp.negotiate("*/*", OFFERED, "text/html")
    with pytest.raises(ValueError, match="at least one"):
        smp.negotiate("*/*", [])


def test_parse_accept_keeps_order_and_drops_extensions() -> None:
    ranges = parse_accept("text/csv;label_size=1;q=0.5;ext=x, */*;q=0.1")
    assert [(str(r.media), r.q, r.index, r.specificity) for r in ranges] == [
        ("text/csv; label_size=1", 0.5, 0, 2),
        ("*/*", 0.1, 1, 0),
    ]


_member = st.sampled_from(
    ["text/csv", "application/json", "text/*", "*/*", "application/*", "image/png", "application/jsonlines"]
)


@given(
    st.lists(
        st.tuples(_member, st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=0.25"])), min_size=1, max_size=6
    ),
    st.sampled_from([None, *OFFERED]),
)
def test_negotiate_answers_an_acceptable_offer_or_406(
    members: list[tuple[str, str]], default: str | None
) -> None:
    header = ", ".join(m + q for m, q in members)
    try:
        got = smp.negotiate(header, OFFERED, default)
    except smp.NotAcceptableError:
        # Then no offered type has a positive weight from its most specific range.
        for offer in OFFERED:
            o = smp.MediaType.parse(offer)
            cover = [r for r in parse_accept(header) if r.matches(o)]
            if cover:
                top = max(cover, key=lambda r: (r.specificity, -r.index))
                assert top.q == 0
        return
    essence = smp.MediaType.parse(got).essence
    assert essence in OFFERED
    o = smp.MediaType.parse(got)
    cover = [r for r in parse_accept(header) if r.matches(o)]
    assert cover and max(cover, key=lambda r: (r.specificity, -r.index)).q > 0


@given(st.text(max_size=40))
def test_any_header_gives_an_offer_or_406(header: str) -> None:
    try:
        got = smp.negotiate(header, OFFERED, "text/csv")
    except smp.NotAcceptableError:
        return
    assert smp.MediaType.parse(got).essence in OFFERED


# -- remembered parses (mime.py Rule 3) ------------------------------------------------


def test_a_parse_is_remembered_and_equal_to_a_fresh_one() -> None:
    from sm_payloads import mime

    value = 'Text/CSV ; label_size=1; charset="utf-8"'
    first = smp.MediaType.parse(value)
    assert smp.MediaType.parse(value) is first  # remembered: the same immutable object
    mime._PARSED.clear()
    fresh = smp.MediaType.parse(value)
    assert fresh is not first
    assert (fresh.type, fresh.subtype, dict(fresh.params)) == (
        "text",
        "csv",
        {"label_size": "1", "charset": "utf-8"},
    )
    assert (first.type, first.subtype, dict(first.params)) == (
        "text",
        "csv",
        {"label_size": "1", "charset": "utf-8"},
    )
    with pytest.raises(TypeError):
        first.params["label_size"] = "2"  # type: ignore[index]


def test_a_malformed_media_type_is_refused_every_time() -> None:
    from sm_payloads import mime

    for _ in range(3):
        with pytest.raises(smp.UnsupportedMediaTypeError) as e:
            smp.MediaType.parse("text/csv; a=1; a=2")
        assert e.value.reason == "parameter 'a' given twice"
    assert "text/csv; a=1; a=2" not in mime._PARSED


def test_the_remembered_parses_are_bounded() -> None:
    from sm_payloads import mime

    mime._PARSED.clear()
    for i in range(3 * mime._PARSED_MAX):
        assert dict(smp.MediaType.parse(f"text/csv; n={i}").params) == {"n": str(i)}
        assert len(mime._PARSED) <= mime._PARSED_MAX
    long = "text/csv; x=" + "y" * mime._PARSED_MAX_CHARS
    assert smp.MediaType.parse(long).params["x"] == "y" * mime._PARSED_MAX_CHARS
    assert long not in mime._PARSED


def test_a_subclass_parses_to_itself_not_to_a_remembered_media_type() -> None:
    class Mine(smp.MediaType):
        pass

    smp.MediaType.parse("application/json")
    parsed = Mine.parse("application/json")
    assert type(parsed) is Mine and parsed.essence == "application/json"
    assert type(smp.MediaType.parse("application/json")) is smp.MediaType


def test_get_codec_reuses_a_codec_until_the_registry_changes() -> None:
    from dataclasses import dataclass

    from sm_payloads.formats.csv import CsvCodec

    ct = "text/csv; label_size=0"
    codec = smp.get_codec(ct)
    assert smp.get_codec(ct) is codec  # codecs are immutable: built once
    assert smp.get_codec(ct, dtype="float64") is not codec  # options: always built
    assert smp.get_codec(ct, dtype="float64").dtype == "float64"

    @dataclass(frozen=True, slots=True)
    class Other(CsvCodec):
        pass

    smp.register_codec(Other, replace=True)
    try:
        assert type(smp.get_codec(ct)) is Other  # the registry names another class now
        assert smp.get_codec(ct).label_size == 0
    finally:
        smp.register_codec(CsvCodec, replace=True)
    assert type(smp.get_codec(ct)) is CsvCodec


_TOKEN = st.text(alphabet=st.sampled_from(list("aZx0-+.*")), min_size=1, max_size=5)
_VALUE = _TOKEN | _TOKEN.map(lambda t: '"' + t + '"') | st.sampled_from(['"a\\"b"', '"a;b"', "5,5"])
_PARAM = st.tuples(st.sampled_from(["", " "]), _TOKEN, st.sampled_from(["=", " = ", ""]), _VALUE).map(
    lambda p: ";" + p[0] + p[1] + p[2] + p[3]
)
# Media types as clients write them (mostly well-formed, some not), and any text.
_MEDIA_TEXT = st.tuples(
    _TOKEN, st.sampled_from(["/", "/", "", "//"]), _TOKEN, st.lists(_PARAM, max_size=3)
).map(lambda m: m[0] + m[1] + m[2] + "".join(m[3])) | st.text(
    alphabet=st.sampled_from(list('aZ/;= \t,"\\-+.*q0x')), max_size=30
)


@given(st.lists(_MEDIA_TEXT, min_size=1, max_size=6))
def test_a_remembered_parse_is_what_a_fresh_parse_gives(values: list[str]) -> None:
    """Whatever was parsed (or refused) before, each value parses to what a fresh parse of
    it gives, or is refused with the same reason."""
    from sm_payloads import mime

    def outcome(v: str) -> tuple[str, object]:
        try:
            m = smp.MediaType.parse(v)
        except smp.UnsupportedMediaTypeError as e:
            return ("refused", e.reason)
        return ("parsed", (m.type, m.subtype, tuple(m.params.items())))

    mime._PARSED.clear()
    fresh = []
    for v in values:
        fresh.append(outcome(v))
        mime._PARSED.clear()
    # now each parse may come from memory: twice over, everything before remembered
    remembered = [outcome(v) for v in values] + [outcome(v) for v in values]
    assert remembered == fresh + fresh
