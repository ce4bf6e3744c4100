"""MetricsText: the Prometheus text format written directly, read back by prometheus_client."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netwatch.exporters.text import InvalidValue, MetricsText, escape, label_pairs, value_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1, "1"),
        (True, "1"),
        (2**64 - 1, "18446744073709551615"),  # a 64-bit counter keeps every digit
        (1.0, "1.0"),
        (-3.0, "-3.0"),
        (125000000.0, "125000000.0"),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (1.5e300, "1.5e+300"),
        (2.0**60, "1.152921504606847e+18"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_value_text(value: float, text: str) -> None:
    """Integers exactly, floats by repr, infinities and NaN as Prometheus spells them; the
    text of a sample is the same through ``Family.add``."""
    out = MetricsText()
    out.family("x", "gauge", "X.").add("", value)
    assert out.text().endswith(f"x{{}} {text}\n")
    assert value_text(value) == text
    if not math.isnan(value):
        assert float(text.replace("Inf", "inf")) == float(value)


def test_escape_only_what_the_format_requires() -> None:
    """Backslash, double quote and newline are escaped; everything else is kept as is."""
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape("Xã An Bình {x}='y'") == "Xã An Bình {x}='y'"


def test_label_values_round_trip_through_the_parser() -> None:
    """Quotes, backslashes, newlines and Vietnamese text come back from the parser unchanged."""
    values = ['say "hi"', "C:\\ Label:", "line one\nline two", "Phường Ninh Kiều, Cần Thơ", ""]
    out = MetricsText()
    family = out.family("netwatch_test", "gauge", "A test family.")
    for i, value in enumerate(values):
        family.add(label_pairs(["i", "v"], [str(i), value]), i)
    (parsed,) = text_string_to_metric_families(out.encode().decode("utf-8"))
    assert [s.labels["v"] for s in parsed.samples] == values
    assert [s.value for s in parsed.samples] == list(range(len(values)))


def test_families_keep_their_samples_together_in_declared_order() -> None:
    """Samples added alternately still come out grouped, under one HELP and TYPE per family."""
    out = MetricsText()
    up = out.family("netwatch_a", "gauge", "A.\nsecond line, back\\slash")
    sent = out.family("netwatch_b", "counter", "B.")
    for i in range(3):
        up.add(f'n="{i}"', 1)
        sent.add(f'n="{i}"', i * 10)
    text = out.text()
    assert text.count("# HELP netwatch_a ") == 1
    assert "# HELP netwatch_a A.\\nsecond line, back\\\\slash\n" in text
    lines = text.splitlines()
    assert lines[:5] == [
        "# HELP netwatch_a A.\\nsecond line, back\\\\slash",
        "# TYPE netwatch_a gauge",
        'netwatch_a{n="0"} 1',
        'netwatch_a{n="1"} 1',
        'netwatch_a{n="2"} 1',
    ]
    # A counter: HELP, TYPE and samples on name_total, as prometheus_client writes them.
    assert lines[5:] == [
        "# HELP netwatch_b_total B.",
        "# TYPE netwatch_b_total counter",
        'netwatch_b_total{n="0"} 0',
        'netwatch_b_total{n="1"} 10',
        'netwatch_b_total{n="2"} 20',
    ]
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["netwatch_b"].type == "counter"
    assert [s.name for s in parsed["netwatch_b"].samples] == ["netwatch_b_total"] * 3
    assert parsed["netwatch_a"].documentation == "A.\nsecond line, back\\slash"


def test_an_empty_family_still_declares_itself() -> None:
    """As with prometheus_client: HELP and TYPE without samples, which parsers accept."""
    out = MetricsText()
    out.family("netwatch_empty", "gauge", "Nothing yet.")
    assert out.text() == "# HELP netwatch_empty Nothing yet.\n# TYPE netwatch_empty gauge\n"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("counter", 2**64),
        pytest.param("counter", 2**16000, id="counter-2^16000"),
        ("counter", -1),
        ("counter", math.nan),
        ("counter", math.inf),
        ("counter", -0.5),
        pytest.param("gauge", 10**400, id="gauge-10^400"),
        pytest.param("gauge", -(10**400), id="gauge-minus-10^400"),
        ("gauge", "1"),
        ("gauge", None),
    ],
)
def test_values_the_format_cannot_carry_raise_and_write_nothing(kind: str, value: object) -> None:
    """Counters take 0..2^64-1 only, gauges any float64 (NaN and infinities included), neither
    a non-number; a refused value leaves no line."""
    out = MetricsText()
    family = out.family("x", "counter" if kind == "counter" else "gauge", "X.")
    with pytest.raises(InvalidValue, match=r"^x(_total)?: "):
        family.add("", value)  # type: ignore[arg-type]
    assert out.text().count("\n") == 2  # HELP and TYPE only


def test_the_widest_values_the_format_carries_are_written() -> None:
    """The edges: 2^64-1 and a float counter, float64's largest integer as a gauge."""
    out = MetricsText()
    counter = out.family("c", "counter", "C.")
    counter.add("", 2**64 - 1)
    counter.add("", 2.5)
    counter.add("", True)
    out.family("g", "gauge", "G.").add("", int(1.7976931348623157e308))
    (c, g) = text_string_to_metric_families(out.text())
    assert [s.value for s in c.samples] == [2**64 - 1, 2.5, 1]
    assert g.samples[0].value == 1.7976931348623157e308


def test_a_lone_surrogate_is_not_a_label_value() -> None:
    """Text with no UTF-8 form raises at escape time, before it is in the text."""
    with pytest.raises(InvalidValue):
        escape("Gi0/1 \udc80")
    assert escape("Cổng \u2028") == "Cổng \u2028"


def test_drop_tail_takes_back_a_device_across_chunks() -> None:
    """The last device's samples go from every family, even those already encoded in a chunk;
    a device whose labels merely begin alike stays."""
    out = MetricsText()
    up, other = out.family("up", "gauge", "U."), out.family("other", "gauge", "O.")
    up.add('device="a"', 1)
    up.add('device="ab"', 1)
    other.add('device="ab",x="1"', 1)
    for i in range(3000):
        up.add(f'device="a",i="{i}"', i)
    other.add('device="a",x="1"', 1)
    assert up.chunks
    out.drop_tail('device="a"')
    assert out.text().splitlines()[2:] == [
        'up{device="a"} 1',
        'up{device="ab"} 1',
        "# HELP other O.",
        "# TYPE other gauge",
        'other{device="ab",x="1"} 1',
    ]
