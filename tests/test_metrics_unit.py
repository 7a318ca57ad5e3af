"""The metrics' pieces in-process: the tally and the shared slot, the master's totals across exited workers,
the X-Request-Start reading, the exposition text (parsed back with prometheus_client), and top's quantile."""

from __future__ import annotations

import random

import pytest

from monoceros.observability import metrics as m
from monoceros.observability.prometheus import Family, render
from monoceros.top import quantile


def test_a_slot_carries_the_tally_and_totals_survive_its_worker() -> None:
    tally = m.Tally()
    tally.add("GET", 200, 0.003, 10, None)
    tally.add("POST", 503, 0.2, 5, 0.02)
    tally.add("BREW", 418, 20.0, 0, None)  # an unknown method, and a duration past the last bucket
    slot = m.StatsSlot()
    slot.publish([tally])
    assert slot.served() == 3
    totals = m.Totals()
    totals.retire(slot)
    other = m.StatsSlot()
    other.publish([tally])
    summed = m.aggregate(totals, [other])
    assert summed[m.REQUESTS + m.METHODS.index("GET") * 5 + 1] == 2
    assert summed[m.REQUESTS + m.METHODS.index("other") * 5 + 3] == 2
    assert summed[m.DURATION + len(m.DURATION_BOUNDS)] == 2  # +Inf
    assert summed[m.BYTES] == 30
    assert summed[m.QUEUE_SUM] == pytest.approx(0.04)
    slot.close()
    other.close()


ANY_METHOD = m.METHODS[:-1] + ("BREW", "PROPFIND")
ANY_STATUS = (0, 101, 200, 204, 301, 404, 418, 500, 503, 99, 600)
ANY_SECONDS = (1e-6, 0.005, 0.0051, 0.3, 2.5, 11.0)


@pytest.mark.parametrize(
    ("methods", "statuses", "seconds"),
    [
        (ANY_METHOD, ANY_STATUS, ANY_SECONDS),  # everything mixed
        (("GET",), (200,), (1e-6, 0.004, 0.005)),  # the common batch: one kind, all in the first bucket
        (("BREW",), ANY_STATUS, ANY_SECONDS),  # one method, many statuses
        (("POST",), (503,), (0.0051, 0.5)),  # one kind, none in the first bucket
    ],
)
def test_a_batch_counts_what_the_same_requests_one_by_one_count(
    methods: tuple[str, ...], statuses: tuple[int, ...], seconds: tuple[float, ...]
) -> None:
    rng = random.Random(7)
    rows = [
        (
            rng.choice(methods),
            rng.choice(statuses),
            rng.choice(seconds) * rng.choice((1, 1, rng.random())),
            rng.randrange(10_000),
            rng.choice((None, None, rng.random() * 3)),
        )
        for _ in range(5_000)
    ]
    single, batch = m.Tally(), m.Tally()
    for row in rows:
        single.add(*row)
    methods, statuses, seconds, sent, queued = zip(*rows, strict=True)
    batch.add_batch(methods, statuses, seconds, sent, [q for q in queued if q is not None])
    assert batch.counts[: m.DURATION_SUM] == single.counts[: m.DURATION_SUM]
    assert batch.counts[m.QUEUE : m.QUEUE_SUM] == single.counts[m.QUEUE : m.QUEUE_SUM]
    assert batch.counts[m.BYTES] == single.counts[m.BYTES]
    for index in (m.DURATION_SUM, m.QUEUE_SUM):
        assert batch.counts[index] == pytest.approx(single.counts[index])
    assert sum(batch.counts[m.DURATION : m.DURATION_SUM]) == len(rows)


def test_the_current_request_text_and_in_flight() -> None:
    slot = m.StatsSlot()
    assert slot.current() is None and slot.in_flight() == 0
    slot.write_current(("GET", "/x?" + "y" * 400, 5.0))
    text, since = slot.current()  # type: ignore[misc]
    assert text.startswith("GET /x?") and len(text) == m.TEXT_MAX and since == 5.0
    slot.values[m.BUSY_SINCE] = 5.0
    assert slot.in_flight() == 1
    slot.close()


NOW = 1_700_000_001.0  # (the unit is told from the magnitude: seconds, ms or µs since the epoch)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("t=1700000000.5", 0.5),
        ("1700000000500", 0.5),  # milliseconds (nginx's t=${msec} is seconds.millis; some routers send ms)
        ("t=1700000000500000", 0.5),  # microseconds (Heroku-style)
        ("t=1700000002", 0.0),  # a clock a little ahead: not negative
        ("junk", None),
        (None, None),
        ("t=1699990000", None),  # hours off: a wrong clock, not a queue
    ],
)
def test_x_request_start(value: str | None, expected: float | None) -> None:
    got = m.parse_request_start(value, NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-3)


def test_exposition_parses_back() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    hist = Family("x_seconds", "histogram", "a\nhistogram").histogram((0.1, 1.0), [1, 3, 4], 2.5)
    count = Family("x_total", "counter", "c").add(7, {"label": 'quote " and \\ back'})
    families = {f.name: f for f in parser.text_string_to_metric_families(render([hist, count]).decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in families["x_seconds"].samples}
    assert samples[("x_seconds_bucket", (("le", "+Inf"),))] == 4
    assert samples[("x_seconds_sum", ())] == 2.5
    (sample,) = families["x"].samples
    assert sample.labels == {"label": 'quote " and \\ back'} and sample.value == 7


def test_quantile_interpolates_within_a_bucket() -> None:
    bounds = [0.01, 0.1, 1.0]
    assert quantile(0.5, bounds, [0, 0, 0, 0], [0, 0, 0, 0]) is None
    assert quantile(0.5, bounds, [0, 0, 0, 0], [10, 0, 0, 0]) == pytest.approx(0.005)
    assert quantile(0.99, bounds, [0, 0, 0, 0], [50, 49, 1, 0]) == pytest.approx(0.1)
    assert quantile(0.5, bounds, [5, 0, 0, 0], [5, 10, 0, 0]) == pytest.approx(0.055)
    assert quantile(0.99, bounds, [0, 0, 0, 0], [0, 0, 0, 3]) == 1.0  # in +Inf: at least the last bound
