"""A direct writer of the Prometheus text format (0.0.4) for netwatch's own series.

At province scale ``/metrics`` holds about a million series; building prometheus_client
``*MetricFamily`` objects and rendering them with ``generate_latest`` cost ~14 µs per series
(label validation, escaping and float formatting per sample). Here a family is a list of
finished lines: label pairs are escaped and joined once (per inventory for a device, per poll
for an interface) and each sample only formats its value.

>>> out = MetricsText()
>>> up = out.family("netwatch_device_up", "gauge", "1 if the device is up, else 0.")
>>> up.add(label_pairs(["device"], ['r"1']), 1.0)
>>> print(out.text(), end="")
# HELP netwatch_device_up 1 if the device is up, else 0.
# TYPE netwatch_device_up gauge
netwatch_device_up{device="r\\"1"} 1.0

A counter is declared by its base name; its HELP, TYPE and samples use ``name_total``, exactly
as prometheus_client (0.26) writes a ``CounterMetricFamily`` in this format: a ``# TYPE``
on the base name would leave the ``_total`` samples untyped for a 0.0.4 parser.

What the format cannot carry raises ``InvalidValue`` at ``add`` or ``escape`` time, before it is
in the text: an integer beyond float64 (Prometheus parses every value as a float64 and rejects
the whole scrape), a counter that is not a number from 0 to 2^64 - 1 (NaN, infinite, negative
or wider than the 64-bit counters devices keep), a value that is not a number at all, and a
label value that is not UTF-8 text (a lone surrogate). Gauges may be NaN or infinite: the
format spells them. ``MetricsText.drop_tail`` takes back the samples of the device written
last, so a caller can leave out a whole device whose values fail (see ``collector.py``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Literal

Kind = Literal["gauge", "counter"]

COUNTER_MAX = 2**64 - 1  # the widest counter a device keeps (Counter64)
GAUGE_MAX = sys.float_info.max  # an integer beyond this has no float64: Prometheus rejects it


class InvalidValue(ValueError):
    """A sample or label value the exposition format cannot carry (see the module docstring)."""


def describe(value: object) -> str:
    """``value`` for a message, short: an integer of thousands of digits is named by its size
    (``str`` of one over 4,300 digits raises, and a log line need not hold it)."""
    if isinstance(value, int) and not -(2**64) < value < 2**64:
        return f"an integer of {int(value).bit_length()} bits"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def escape(value: str) -> str:
    r"""A label value as the text format quotes it: ``\``, ``"`` and newline escaped.

    Raises ``InvalidValue`` for text that has no UTF-8 form (a lone surrogate)."""
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidValue(f"label value {value[:80]!a} is not UTF-8 text") from None
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def label_pairs(names: Iterable[str], values: Iterable[str]) -> str:
    """``a="x",b="y"``: the inside of the braces, values escaped; join more with a comma."""
    return ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True))


def value_text(value: float) -> str:
    """A sample value as Prometheus reads it: ``+Inf``, ``-Inf``, ``NaN``, integers exactly
    (a 64-bit counter keeps every digit), floats by ``repr`` (shortest round-trip; ``1.0``
    as prometheus_client writes it)."""
    if isinstance(value, int):
        return str(int(value))  # int(): a bool or an IntEnum prints as its number
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


CHUNK = 2048  # lines a family holds as str objects before it encodes them into one bytes chunk


class Family:
    """The samples of one gauge family; made by ``MetricsText.family``.

    Lines are kept as UTF-8 chunks of ``CHUNK`` lines: a province scrape holds about a million
    lines, and a million small ``str`` objects would take more memory than the text itself.
    """

    __slots__ = ("chunks", "lines", "sample")
    # The values written as they are; NaN fails both comparisons, so does an infinity.
    low: float = -GAUGE_MAX
    high: float = GAUGE_MAX

    def __init__(self, sample: str) -> None:
        self.sample = sample  # the name on each sample line (a counter's ends in _total)
        self.lines: list[str] = []
        self.chunks: list[bytes] = []

    def add(self, labels: str, value: float) -> None:
        """One sample; ``labels`` from ``label_pairs`` (or pairs joined by commas, or "").

        Raises ``InvalidValue`` for a value the format cannot carry (module docstring)."""
        # The common cases inline: an int (an int past float64 has over 300 digits; comparing
        # every int with a float bound would cost a quarter of the time of a sample), or a
        # float (x - x is NaN for inf and NaN, which value_text spells).
        kind = type(value)
        if kind is int:
            text = repr(value)
            if len(text) > 300 and not -GAUGE_MAX <= value <= GAUGE_MAX:
                text = self._unusual(value)
        elif kind is float:
            text = repr(value) if value - value == 0 else value_text(value)
        else:
            text = self._unusual(value)
        lines = self.lines
        lines.append(f"{self.sample}{{{labels}}} {text}\n")
        if len(lines) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        # "replace": text that slipped past ``escape`` unchecked costs a "?", not the scrape.
        self.chunks.append("".join(self.lines).encode(errors="replace"))
        self.lines.clear()

    def _unusual(self, value: object) -> str:
        """The text of a value off the fast path (a bool or an IntEnum prints as its number;
        a gauge's NaN or infinity as Prometheus spells it), or ``InvalidValue``."""
        if isinstance(value, int):
            number = int(value)
            if self.low <= number <= self.high:
                return str(number)
        elif isinstance(value, float):
            number_ = float(value)
            if self.low <= number_ <= self.high:
                return repr(number_)
            if not isinstance(self, CounterFamily) and not math.isfinite(number_):
                return value_text(number_)
        else:
            raise InvalidValue(f"{self.sample}: {describe(value)} is not a number")
        what = "a counter from 0 to 2^64 - 1" if isinstance(self, CounterFamily) else "a float64"
        raise InvalidValue(f"{self.sample}: {describe(value)} is not {what}")

    def drop_tail(self, labels: str) -> None:
        """Remove the samples at the end of the family whose label set begins with the pairs
        ``labels`` (a device's: written last, they sit together at the end)."""
        prefix = f"{self.sample}{{{labels}"
        end = len(prefix)
        lines = self.lines
        while True:
            while lines and lines[-1].startswith(prefix) and lines[-1][end] in ",}":
                lines.pop()
            if lines or not self.chunks:
                return
            # All that was pending went: the device's samples may go on in the last chunk.
            lines[:] = [f"{line}\n" for line in self.chunks.pop().decode().split("\n")[:-1]]


class CounterFamily(Family):
    """The samples of one counter family: a number from 0 to 2^64 - 1 (``COUNTER_MAX``)."""

    __slots__ = ()
    low = 0
    high = COUNTER_MAX

    def add(self, labels: str, value: float) -> None:
        if type(value) is int and 0 <= value <= COUNTER_MAX:
            text = repr(value)
        else:
            text = self._unusual(value)
        lines = self.lines
        lines.append(f"{self.sample}{{{labels}}} {text}\n")
        if len(lines) >= CHUNK:
            self._flush()


class MetricsText:
    """The text of one scrape: families in the order declared, each ``# HELP``/``# TYPE``
    once and its samples together, however the samples were interleaved while writing.

    ``drop_tail(labels)`` takes back the last samples of a device from every family: a device
    whose series cannot all be written leaves none behind.
    """

    def __init__(self) -> None:
        self._families: list[tuple[bytes, Family]] = []

    def family(self, name: str, kind: Kind, help_text: str) -> Family:
        """Declare a family (``name`` without ``_total`` for a counter); add samples to it."""
        sample = f"{name}_total" if kind == "counter" else name
        doc = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        header = f"# HELP {sample} {doc}\n# TYPE {sample} {kind}\n".encode()
        family = CounterFamily(sample) if kind == "counter" else Family(sample)
        self._families.append((header, family))
        return family

    def drop_tail(self, labels: str) -> None:
        """Remove, from the end of every family, the samples whose label set begins with the
        pairs ``labels``: all of a device's samples, when it was the last device written
        (every per-device series begins with the device's label pairs)."""
        for _, family in self._families:
            family.drop_tail(labels)

    def encode(self) -> bytes:
        """The text, UTF-8."""
        parts: list[bytes] = []
        for header, family in self._families:
            parts.append(header)
            parts.extend(family.chunks)
            parts.append("".join(family.lines).encode(errors="replace"))
        return b"".join(parts)

    def text(self) -> str:
        return self.encode().decode()
