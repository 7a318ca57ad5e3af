"""What the master tells about the server: the metrics it serves at `/metrics`, `/healthz` and `/readyz`.

Everything comes from the master's own tables and the workers' shared stats slots (read, never asked), plus
`/proc` for each worker's resident memory. Counters are summed over every worker that ever ran
(`Totals`), so replacing a worker never makes one go down.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import TYPE_CHECKING

from monoceros.observability import metrics as m
from monoceros.observability.prometheus import CONTENT_TYPE, Family, render

if TYPE_CHECKING:
    from monoceros.arbiter.master import Arbiter

_PAGE = os.sysconf("SC_PAGE_SIZE")

# Why a worker ended, as the master saw it (the `reason` label of monoceros_worker_restarts_total).
RESTART_REASONS = (
    "timeout",
    "max_requests",
    "memory",
    "reload",
    "scaled_down",
    "crash",
    "signal",
    "boot_failed",
    "killed",
)


class Observer:
    """The master's metrics state: the exited workers' counters and the restart reasons."""

    def __init__(self) -> None:
        self.totals = m.Totals()
        self.restarts: Counter[str] = Counter()
        self.started = time.time()

    def worker_gone(self, slot: m.StatsSlot | None, reason: str) -> None:
        if slot is not None:
            self.totals.retire(slot)
            slot.close()
        self.restarts[reason] += 1

    # -- the endpoint's answers -------------------------------------------------------------------------

    def handle(self, arbiter: Arbiter, path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            return 200, CONTENT_TYPE, self.metrics(arbiter)
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ready, why = readiness(arbiter)
            return (200 if ready else 503), "text/plain", (why + "\n").encode()
        return 404, "text/plain", b"not found: /metrics, /healthz and /readyz are here\n"

    def summed(self, arbiter: Arbiter) -> list[float]:
        """The counters over every worker that ever ran, the gauges over the live ones."""
        slots = [slot for w in arbiter.WORKERS.values() if (slot := getattr(w, "stats", None)) is not None]
        return m.aggregate(self.totals, slots)

    def metrics(self, arbiter: Arbiter) -> bytes:
        values = self.summed(arbiter)
        requests = Family("monoceros_requests_total", "counter", "Requests served, by method and status.")
        for mi, method in enumerate(m.METHODS):
            for si, klass in enumerate(m.STATUS_CLASSES):
                count = values[m.REQUESTS + mi * 5 + si]
                if count:
                    requests.add(count, {"method": method, "status": klass})
        duration = Family(
            "monoceros_request_duration_seconds",
            "histogram",
            "From a request's start to its response's end.",
        ).histogram(
            m.DURATION_BOUNDS,
            m.cumulative(values[m.DURATION : m.DURATION + len(m.DURATION_BOUNDS) + 1]),
            values[m.DURATION_SUM],
        )
        queue = Family(
            "monoceros_request_queue_seconds",
            "histogram",
            "Time a request waited before a worker took it, from a trusted router's X-Request-Start.",
        ).histogram(
            m.QUEUE_BOUNDS,
            m.cumulative(values[m.QUEUE : m.QUEUE + len(m.QUEUE_BOUNDS) + 1]),
            values[m.QUEUE_SUM],
        )
        sent = Family("monoceros_response_body_bytes_total", "counter", "Response body bytes sent.")
        sent.add(values[m.BYTES])
        in_flight = Family("monoceros_requests_in_flight", "gauge", "Requests being served now.")
        in_flight.add(values[m.IN_FLIGHT])
        conns = Family("monoceros_connections_active", "gauge", "Client connections open in the workers.")
        conns.add(values[m.CONNECTIONS])
        restarts = Family("monoceros_worker_restarts_total", "counter", "Workers that ended, by reason.")
        for reason in RESTART_REASONS:
            restarts.add(self.restarts.get(reason, 0), {"reason": reason})
        workers = Family("monoceros_workers", "gauge", "Worker processes, by state.")
        ready = sum(1 for pid in arbiter.WORKERS if arbiter.is_ready(pid))
        workers.add(ready, {"state": "ready"})
        workers.add(len(arbiter.WORKERS) - ready, {"state": "booting_or_stopping"})
        wanted = Family("monoceros_workers_desired", "gauge", "The number of workers the master keeps.")
        wanted.add(arbiter.num_workers)
        rss = Family("monoceros_worker_resident_memory_bytes", "gauge", "Each worker's resident memory.")
        for pid in sorted(arbiter.WORKERS):
            used = resident_bytes(pid)
            if used is not None:
                rss.add(used, {"pid": str(pid)})
        backlog = Family(
            "monoceros_listen_backlog",
            "gauge",
            "Connections waiting in a listener's accept queue (Linux).",
        )
        for listener in arbiter.LISTENERS:
            waiting = listener.backlog()
            if waiting >= 0:
                backlog.add(waiting, {"listener": str(listener)})
        started = Family("monoceros_start_time_seconds", "gauge", "When the master started (Unix time).")
        started.add(self.started)
        families = [
            requests,
            duration,
            queue,
            sent,
            in_flight,
            conns,
            restarts,
            workers,
            wanted,
            rss,
            backlog,
        ]
        return render([*families, started])


def readiness(arbiter: Arbiter) -> tuple[bool, str]:
    """Ready: not stopping, and at least half the workers (one at least) booted and serving."""
    if arbiter.draining:
        return False, "draining: the server is stopping"
    ready = sum(1 for pid in arbiter.WORKERS if arbiter.is_ready(pid))
    needed = max(1, -(-arbiter.num_workers // 2))
    if ready < needed:
        return False, f"not ready: {ready} of {arbiter.num_workers} workers booted"
    return True, f"ready: {ready} of {arbiter.num_workers} workers booted"


def resident_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None
