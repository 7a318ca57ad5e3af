"""The Prometheus text exposition format (version 0.0.4): metric families in, bytes out.

Small on purpose: the master renders a few dozen samples per scrape, so a writer of its own costs less
than importing a client library into every server, and there is nothing to register or to reset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


@dataclass
class Family:
    """One metric: its name, type (counter, gauge, histogram), help text and samples."""

    name: str
    kind: str
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)  # (suffix, labels, value)

    def add(self, value: float, labels: Labels | None = None, suffix: str = "") -> Family:
        self.samples.append((suffix, labels or {}, value))
        return self

    def histogram(
        self, bounds: Sequence[float], cumulative: Sequence[float], total: float, labels: Labels | None = None
    ) -> Family:
        """``cumulative``: one count per bound, then the +Inf count; ``total``: the sum of the values."""
        base = dict(labels or {})
        for bound, count in zip(bounds, cumulative, strict=False):
            self.add(count, {**base, "le": _number(bound)}, "_bucket")
        self.add(cumulative[-1], {**base, "le": "+Inf"}, "_bucket")
        self.add(total, base, "_sum")
        self.add(cumulative[-1], base, "_count")
        return self


def render(families: Iterable[Family]) -> bytes:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for suffix, labels, value in family.samples:
            lines.append(f"{family.name}{suffix}{_labels(labels)} {_number(value)}")
    lines.append("")
    return "\n".join(lines).encode()


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape_value(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return {True: "+Inf", False: "-Inf"}[value > 0] if value == value else "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
