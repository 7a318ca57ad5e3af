"""What the control socket's commands do: Gunicorn 27's commands and answers, and more about each worker.

The answers keep Gunicorn's keys (so `gunicornc` prints them) and add Monoceros' own: per worker the
requests it served, the request it is serving now and for how long, its RSS and PSS, its heartbeat, and
why the last worker in its slot ended; `show requests` (the counters `top` draws from) is new.
Commands that change the worker count act at once in the master's loop; reload, reopen and shutdown go
through the master's own signals, so they behave exactly as HUP, USR1, TERM and INT do.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from monoceros import __version__
from monoceros.arbiter.memory import worker_memory
from monoceros.arbiter.observe import resident_bytes
from monoceros.observability import metrics as m

if TYPE_CHECKING:
    from monoceros.arbiter.master import Arbiter

HELP = {
    "show all": "Show all processes (arbiter, web workers, dirty workers)",
    "show workers": "List the workers: pid, age, requests served, the request in progress, memory, heartbeat",
    "show dirty": "List dirty workers and apps (Monoceros has none)",
    "show config": "Show current effective configuration",
    "show stats": "Show server statistics",
    "show listeners": "Show bound sockets",
    "show requests": "Request counters and latency buckets over all workers (for `monoceros top`)",
    "worker add [N]": "Spawn N workers (default 1)",
    "worker remove [N]": "Remove N workers (default 1)",
    "worker kill <PID>": "Gracefully terminate specific worker",
    "dirty add [N]": "Spawn N dirty workers (default 1)",
    "dirty remove [N]": "Remove N dirty workers (default 1)",
    "reload": "Graceful reload (HUP): a rolling replacement of the workers",
    "reopen": "Reopen log files (USR1)",
    "shutdown [graceful|quick]": "Shutdown server (TERM/INT)",
    "help": "Show this help message",
}

# `show config`: the keys Gunicorn 27 answers with.
CONFIG_KEYS = (
    "bind",
    "workers",
    "worker_class",
    "threads",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "max_requests",
    "max_requests_jitter",
    "worker_connections",
    "preload_app",
    "daemon",
    "pidfile",
    "proc_name",
    "reload",
    "dirty_workers",
    "dirty_apps",
    "dirty_timeout",
    "control_socket",
    "control_socket_disable",
)


class Commands:
    """Turns one request message into its answer, acting on ``arbiter``."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter

    def __call__(self, message: Any) -> dict[str, Any]:
        if not isinstance(message, dict):
            raise ValueError("not a request object")
        ident = message.get("id", 0)
        command = message.get("command", "")
        if not isinstance(command, str):
            raise ValueError("the command is not a string")
        args = message.get("args", [])
        try:
            words = shlex.split(command.strip())
            if isinstance(args, list):
                words += [str(arg) for arg in args]
            if not words:
                return {"id": ident, "status": "error", "error": "Empty command"}
            data = self.run(words)
        except ValueError as exc:
            return {"id": ident, "status": "error", "error": f"Invalid argument: {exc}"}
        except Exception as exc:  # a command must never take the master down
            self.arbiter.log.exception("Control command %r failed", command)
            return {"id": ident, "status": "error", "error": f"Command failed: {exc}"}
        return {"id": ident, "status": "ok", "data": data}

    def run(self, words: list[str]) -> dict[str, Any]:
        verb, rest = words[0].lower(), words[1:]
        if verb == "show":
            return self.show(rest)
        if verb == "worker":
            return self.worker(rest)
        if verb == "dirty":
            if not rest:
                raise ValueError("Missing dirty action (add|remove)")
            if rest[0].lower() not in ("add", "remove"):
                raise ValueError(f"Unknown dirty action: {rest[0]}")
            return {"success": False, "error": "Dirty arbiter not running"}
        if verb == "reload":
            os.kill(self.arbiter.pid, signal.SIGHUP)
            return {"status": "reloading"}
        if verb == "reopen":
            os.kill(self.arbiter.pid, signal.SIGUSR1)
            return {"status": "reopening"}
        if verb == "shutdown":
            mode = rest[0].lower() if rest else "graceful"
            if mode not in ("graceful", "quick"):
                raise ValueError(f"Unknown shutdown mode: {rest[0]} (graceful|quick)")
            os.kill(self.arbiter.pid, signal.SIGINT if mode == "quick" else signal.SIGTERM)
            return {"status": "shutting_down", "mode": mode}
        if verb == "help":
            return {"commands": HELP}
        raise ValueError(f"Unknown command: {words[0]}")

    # -- show ------------------------------------------------------------------------------------------

    def show(self, rest: list[str]) -> dict[str, Any]:
        if not rest:
            raise ValueError("Missing show target (all|workers|dirty|config|stats|listeners|requests)")
        target = rest[0].lower()
        if target == "workers":
            workers = self.workers()
            return {"workers": workers, "count": len(workers)}
        if target == "all":
            arbiter = self.arbiter
            web = [
                {
                    "pid": w["pid"],
                    "type": "web",
                    "age": w["age"],
                    "booted": w["booted"],
                    "last_heartbeat": w["last_heartbeat"],
                }
                for w in self.workers(ask_current=False)
            ]
            role = "master" if not arbiter.master_pid else "new master"
            return {
                "arbiter": {"pid": arbiter.pid, "type": "arbiter", "role": role, "version": __version__},
                "web_workers": web,
                "web_worker_count": len(web),
                "dirty_arbiter": None,
                "dirty_workers": [],
                "dirty_worker_count": 0,
            }
        if target == "dirty":
            return {"enabled": False, "pid": None, "workers": [], "apps": []}
        if target == "config":
            return self.config()
        if target == "stats":
            return self.stats()
        if target == "listeners":
            listeners = [_listener(lnr) for lnr in self.arbiter.LISTENERS]
            return {"listeners": listeners, "count": len(listeners)}
        if target == "requests":
            return self.requests()
        raise ValueError(f"Unknown show target: {rest[0]}")

    def workers(self, ask_current: bool = True) -> list[dict[str, Any]]:
        arbiter = self.arbiter
        asked = self._ask_current() if ask_current else set()
        now = time.monotonic()
        out = []
        for pid, worker in sorted(arbiter.WORKERS.items(), key=lambda item: item[1].age):
            try:
                heartbeat: float | None = round(now - worker.tmp.last_update(), 2)
            except (OSError, ValueError):
                heartbeat = None
            slot = arbiter.slot_of(pid)
            entry: dict[str, Any] = {
                "pid": pid,
                "age": worker.age,
                "booted": arbiter.is_ready(pid),
                "aborted": bool(getattr(worker, "aborted", False)),
                "last_heartbeat": heartbeat,
                "state": arbiter.worker_state(pid),
                "slot": slot,
                "rss": resident_bytes(pid),
                "pss": worker_memory(pid),
                "requests": None,
                "current": None,
                "last_exit_in_slot": arbiter.slot_exits.get(slot) if slot is not None else None,
            }
            stats = getattr(worker, "stats", None)
            if stats is not None:
                values = stats.values
                entry["requests"] = stats.served() if arbiter.counting else None
                entry["in_flight"] = stats.in_flight()
                entry["connections"] = int(values[m.CONNECTIONS])
                current = stats.current() if pid in asked else None
                if current is not None:
                    text, since = current
                    method, _, target = text.partition(" ")
                    entry["current"] = {"method": method, "path": target, "seconds": round(now - since, 3)}
            out.append(entry)
        return out

    def _ask_current(self, wait: float = 0.2) -> set[int]:
        """Ask the busy workers which request they serve (a signal: nothing is written per request); wait a
        moment for their answers. The pids that answered."""
        slots = {
            pid: stats
            for pid, worker in self.arbiter.WORKERS.items()
            if (stats := getattr(worker, "stats", None)) is not None and stats.in_flight()
        }
        before = {pid: stats.values[m.CURRENT_SEQ] for pid, stats in slots.items()}
        for pid in slots:
            try:
                os.kill(pid, m.PUBLISH_SIGNAL)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        answered: set[int] = set()
        while len(answered) < len(slots) and time.monotonic() < deadline:
            answered = {pid for pid, stats in slots.items() if stats.values[m.CURRENT_SEQ] != before[pid]}
            if len(answered) < len(slots):
                time.sleep(0.005)
        return answered

    def config(self) -> dict[str, Any]:
        cfg = self.arbiter.cfg
        data: dict[str, Any] = {}
        for key in CONFIG_KEYS:
            try:
                value = cfg.get(key)
            except (AttributeError, KeyError):
                continue
            if key == "worker_class":
                value = str(self.arbiter.worker_class)
            elif key == "workers":
                value = self.arbiter.num_workers
            elif callable(value) or not isinstance(value, (str, int, float, bool, list, dict, type(None))):
                value = str(value)
            data[key] = value
        data["control_socket"] = self.arbiter.control_path
        return data

    def stats(self) -> dict[str, Any]:
        arbiter = self.arbiter
        observer = arbiter.observer
        return {
            "uptime": round(time.time() - observer.started, 2),
            "pid": arbiter.pid,
            "workers_current": len(arbiter.WORKERS),
            "workers_target": arbiter.num_workers,
            "workers_spawned": arbiter.worker_age,
            "workers_killed": sum(observer.restarts.values()),
            "reloads": arbiter.reloads,
            "dirty_arbiter_pid": None,
            "restarts": dict(observer.restarts),
            "draining": arbiter.draining,
        }

    def requests(self) -> dict[str, Any]:
        arbiter = self.arbiter
        values = arbiter.observer.summed(arbiter)
        by_class = {klass: 0.0 for klass in m.STATUS_CLASSES}
        for mi in range(len(m.METHODS)):
            for si, klass in enumerate(m.STATUS_CLASSES):
                by_class[klass] += values[m.REQUESTS + mi * 5 + si]
        buckets = values[m.DURATION : m.DURATION + len(m.DURATION_BOUNDS) + 1]
        return {
            "time": time.monotonic(),
            "enabled": arbiter.counting,
            "requests": {klass: int(count) for klass, count in by_class.items()},
            "total": int(sum(by_class.values())),
            "duration_bounds": list(m.DURATION_BOUNDS),
            "duration_buckets": [int(c) for c in buckets],  # per bucket (not cumulative), the last is +Inf
            "duration_sum": values[m.DURATION_SUM],
            "in_flight": int(values[m.IN_FLIGHT]),
            "connections": int(values[m.CONNECTIONS]),
            "restarts": int(sum(arbiter.observer.restarts.values())),
        }

    # -- worker ----------------------------------------------------------------------------------------

    def worker(self, rest: list[str]) -> dict[str, Any]:
        if not rest:
            raise ValueError("Missing worker action (add|remove|kill)")
        action = rest[0].lower()
        arbiter = self.arbiter
        if action in ("add", "remove"):
            count = max(1, int(rest[1])) if len(rest) > 1 else 1
            previous = arbiter.num_workers
            if action == "add":
                arbiter.num_workers = previous + count
            else:
                arbiter.num_workers = max(1, previous - count)
            arbiter.manage_workers()
            if action == "add":
                return {"added": count, "previous": previous, "total": arbiter.num_workers}
            return {
                "removed": previous - arbiter.num_workers,
                "previous": previous,
                "total": arbiter.num_workers,
            }
        if action == "kill":
            if len(rest) < 2:
                raise ValueError("Missing PID for worker kill")
            pid = int(rest[1])
            if pid not in arbiter.WORKERS:
                return {"success": False, "error": f"Worker {pid} not found"}
            try:
                arbiter.retire_worker(pid, "killed")
            except OSError as exc:
                return {"success": False, "error": str(exc)}
            return {"success": True, "killed": pid}
        raise ValueError(f"Unknown worker action: {rest[0]}")


def _listener(listener: Any) -> dict[str, Any]:
    family = getattr(listener, "family", None)
    kinds: dict[Any, str] = {socket.AF_INET: "tcp", socket.AF_INET6: "tcp6", socket.AF_UNIX: "unix"}
    kind = kinds.get(family, "unknown")
    return {"address": str(listener), "fd": listener.fileno(), "type": kind}
