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
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

Kind = Literal["gauge", "counter"]


def escape(value: str) -> str:
    r"""A label value as the text format quotes it: ``\``, ``"`` and newline escaped."""
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
    """The samples of one metric family; made by ``MetricsText.family``.

    Lines are kept as UTF-8 chunks of ``CHUNK`` lines: a province scrape holds about a million
    lines, and a million small ``str`` objects would take more memory than the text itself.
    """

    __slots__ = ("chunks", "lines", "sample")

    def __init__(self, sample: str) -> None:
        self.sample = sample  # the name on each sample line (a counter's ends in _total)
        self.lines: list[str] = []
        self.chunks: list[bytes] = []

    def add(self, labels: str, value: float) -> None:
        """One sample; ``labels`` from ``label_pairs`` (or pairs joined by commas, or "")."""
        # The common cases inline: an int, or a finite float (x - x is NaN for inf and NaN).
        kind = type(value)
        text = (
            repr(value)
            if kind is int or (kind is float and value - value == 0)
            else value_text(value)
        )
        lines = self.lines
        lines.append(f"{self.sample}{{{labels}}} {text}\n")
        if len(lines) >= CHUNK:
            self.chunks.append("".join(lines).encode())
            lines.clear()


class MetricsText:
    """The text of one scrape: families in the order declared, each ``# HELP``/``# TYPE``
    once and its samples together, however the samples were interleaved while writing."""

    def __init__(self) -> None:
        self._families: list[tuple[bytes, Family]] = []

    def family(self, name: str, kind: Kind, help_text: str) -> Family:
        """Declare a family (``name`` without ``_total`` for a counter); add samples to it."""
        sample = f"{name}_total" if kind == "counter" else name
        doc = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        header = f"# HELP {sample} {doc}\n# TYPE {sample} {kind}\n".encode()
        family = Family(sample)
        self._families.append((header, family))
        return family

    def encode(self) -> bytes:
        """The text, UTF-8."""
        parts: list[bytes] = []
        for header, family in self._families:
            parts.append(header)
            parts.extend(family.chunks)
            parts.append("".join(family.lines).encode())
        return b"".join(parts)

    def text(self) -> str:
        return self.encode().decode()
