"""observe_many writes what one observe per amount writes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from tds.metrics import observe_many

BUCKETS = (0.001, 0.01, 0.1, 1.0)
# On a bound, between bounds, past the last one, zero, and repeats.
AMOUNTS = [0.0, 0.001, 0.0005, 0.01, 0.05, 0.05, 0.1, 0.99, 1.0, 7.5, 0.003]


def _exposition(fill: str) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("t_seconds", "t", ["stage"], buckets=BUCKETS, registry=registry)
    child = histogram.labels("s")
    if fill == "one by one":
        for amount in AMOUNTS:
            child.observe(amount)
    else:
        observe_many(child, AMOUNTS[:4])
        observe_many(child, [])
        observe_many(child, AMOUNTS[4:])
    return _without_created(generate_latest(registry).decode())


def _without_created(text: str) -> bytes:
    """The exposition less the `_created` times (they differ between two histograms)."""
    return "\n".join(line for line in text.splitlines() if "_created" not in line).encode()


def test_the_same_exposition_as_observing_each() -> None:
    expected = _exposition("one by one")
    assert b't_seconds_bucket{le="0.01",stage="s"} 5.0' in expected
    assert _exposition("many") == expected


@pytest.mark.parametrize("amount", [0.001, 0.0011])
def test_an_amount_goes_where_observe_puts_it(amount: float) -> None:
    registry = CollectorRegistry()
    one = Histogram("a_seconds", "a", buckets=BUCKETS, registry=registry)
    many = Histogram("b_seconds", "b", buckets=BUCKETS, registry=registry)
    one.observe(amount)
    observe_many(many, [amount])
    text = _without_created(generate_latest(registry).decode()).decode()
    assert text.count('le="0.001"} 1.0') == (2 if amount <= 0.001 else 0)
    assert text.replace("a_seconds", "x").count("\n") == text.replace("b_seconds", "x").count(
        "\n")
    ones = [line.split(" ")[1] for line in text.splitlines() if line.startswith("a_seconds_")]
    manys = [line.split(" ")[1] for line in text.splitlines() if line.startswith("b_seconds_")]
    assert ones == manys
