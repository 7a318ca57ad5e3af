"""`monoceros top`: a live view of a running server, from its control socket, refreshed every second.

    monoceros top                 # the one server on this machine (or -s PATH, -b BIND as for ctl)
    monoceros top --once          # one frame as plain text, for a script or a log

One line per worker (slot, pid, state, requests/s, the request in progress and its age, RSS, heartbeat,
and why the last worker in the slot ended), and the totals: requests/s, p50 and p99 latency over the last
interval (from the duration histogram's buckets, interpolated within a bucket as Prometheus'
``histogram_quantile`` does), requests in flight, 4xx and 5xx per second, restarts. The standard
library's ``curses`` draws it; ``q`` quits.
"""

from __future__ import annotations

import argparse
import curses
import sys
import time
from collections.abc import Sequence
from typing import Any

from monoceros.ctl import Client, ControlError, find_socket

REFRESH = 1.0


def quantile(q: float, bounds: Sequence[float], before: Sequence[int], after: Sequence[int]) -> float | None:
    """The ``q`` quantile of the requests that ended between two bucket readings (None: there were none)."""
    counts = [max(0, a - b) for a, b in zip(after, before, strict=False)]
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for index, count in enumerate(counts):
        upper = bounds[index] if index < len(bounds) else (bounds[-1] if bounds else 0.0)
        if seen + count >= rank and count:
            if index >= len(bounds):
                return bounds[-1] if bounds else None  # in the +Inf bucket: at least the last bound
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return bounds[-1] if bounds else None


class View:
    """Two readings of the server, and the frame they make."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.last: tuple[float, dict[str, Any], dict[int, int]] | None = None

    def _ask(self, command: str) -> dict[str, Any]:
        answer = self.client.request(command)
        if answer.get("status") != "ok":
            raise ControlError(str(answer.get("error")))
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    def frame(self) -> list[str]:
        now = time.monotonic()
        requests = self._ask("show requests")
        workers = self._ask("show workers").get("workers", [])
        stats = self._ask("show stats")
        served = {w["pid"]: w.get("requests") or 0 for w in workers}
        last, self.last = self.last, (now, requests, served)
        span = now - last[0] if last else 0.0
        lines = [self._totals(requests, stats, last, span), ""]
        lines.append(_row("SLOT", "PID", "STATE", "REQ/S", "RSS", "BEAT", "CURRENT / LAST EXIT IN SLOT"))
        for w in workers:
            rate = "-"
            if last and span > 0 and w["pid"] in last[2]:
                rate = f"{(served[w['pid']] - last[2][w['pid']]) / span:.0f}"
            current = w.get("current")
            if current:
                doing = f"{current['method']} {current['path']} ({current['seconds']:.1f}s)"
            else:
                exit_info = w.get("last_exit_in_slot")
                doing = (
                    f"idle; last exit: {exit_info['reason']} (pid {exit_info['pid']})"
                    if exit_info
                    else "idle"
                )
            rss = f"{(w.get('rss') or 0) / 1048576:.1f}M"
            beat = "-" if w.get("last_heartbeat") is None else f"{w['last_heartbeat']:.1f}s"
            lines.append(
                _row(str(w.get("slot") or "-"), str(w["pid"]), w.get("state", "?"), rate, rss, beat, doing)
            )
        return lines

    def _totals(self, requests: dict[str, Any], stats: dict[str, Any], last: Any, span: float) -> str:
        if not requests.get("enabled"):
            return "request counters are off: start the server with --metrics-bind to see rates and latency"
        rate = p50 = p99 = errors4 = errors5 = None
        if last and span > 0:
            before = last[1]
            rate = (requests["total"] - before["total"]) / span
            errors4 = (requests["requests"]["4xx"] - before["requests"]["4xx"]) / span
            errors5 = (requests["requests"]["5xx"] - before["requests"]["5xx"]) / span
            bounds = requests["duration_bounds"]
            p50 = quantile(0.5, bounds, before["duration_buckets"], requests["duration_buckets"])
            p99 = quantile(0.99, bounds, before["duration_buckets"], requests["duration_buckets"])
        return (
            f"monoceros pid {stats.get('pid')}  up {stats.get('uptime', 0):.0f}s  "
            f"workers {stats.get('workers_current')}/{stats.get('workers_target')}  "
            f"req/s {_num(rate)}  p50 {_ms(p50)}  p99 {_ms(p99)}  in flight {requests.get('in_flight')}  "
            f"4xx/s {_num(errors4)}  5xx/s {_num(errors5)}  restarts {requests.get('restarts')}"
            + ("  DRAINING" if stats.get("draining") else "")
        )


def _row(slot: str, pid: str, state: str, rate: str, rss: str, beat: str, doing: str) -> str:
    return f"{slot:>4} {pid:>7} {state:<8} {rate:>8} {rss:>8} {beat:>6}  {doing}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}ms"


def _draw(screen: Any, view: View) -> None:
    curses.curs_set(0)
    screen.timeout(int(REFRESH * 1000))
    while True:
        try:
            lines = view.frame()
        except ControlError as exc:
            lines = [f"lost the server: {exc}"]
        screen.erase()
        height, width = screen.getmaxyx()
        for row, line in enumerate(lines[: height - 1]):
            screen.addnstr(row, 0, line, width - 1)
        screen.addnstr(height - 1, 0, "q: quit", width - 1)
        screen.refresh()
        if screen.getch() in (ord("q"), ord("Q")):
            return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="monoceros top", description="A live view of a running server.")
    parser.add_argument("-s", "--socket", help="the control socket's path")
    parser.add_argument("-b", "--bind", help="the server's first bind address, for its per-instance socket")
    parser.add_argument("--once", action="store_true", help="print one frame as text and exit")
    args = parser.parse_args(argv)
    try:
        view = View(Client(find_socket(args.socket, args.bind)))
        if args.once:
            view.frame()
            time.sleep(REFRESH)
            print("\n".join(view.frame()))
            return
    except ControlError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
    curses.wrapper(_draw, view)
