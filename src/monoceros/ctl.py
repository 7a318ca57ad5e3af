"""`monoceros ctl`: the control socket's client.

    monoceros ctl show workers              # the one server on this machine (or -s PATH, -b BIND)
    monoceros ctl -s /run/app.ctl worker add 2
    monoceros ctl -b 127.0.0.1:8000 --json show stats

The socket is found as the server names it: ``-s PATH``; else ``-b BIND`` (the server's first bind, as given
to it), which gives the per-instance path; else the only socket in the per-instance directory. Exit status:
0 when the server answered ``ok``, 1 for an error answer or no server, 2 for a bad command line (as Gunicorn's
``gunicornc``, whose wire format this is).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from monoceros.arbiter.control import frame, runtime_dir, unframe


class ControlError(Exception):
    """No server, or no answer."""


class Client:
    """One connection to a control socket; requests are answered in order."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ControlError(f"Failed to connect to {path}: {exc}") from None
        self.next_id = 1
        self.buffer = b""

    def request(self, command: str) -> dict[str, Any]:
        ident, self.next_id = self.next_id, self.next_id + 1
        try:
            self.sock.sendall(frame({"id": ident, "command": command, "args": []}))
            while True:
                taken = unframe(self.buffer)
                if taken is not None:
                    answer, self.buffer = taken
                    if not isinstance(answer, dict):
                        raise ControlError("the server's answer is not an object")
                    return answer
                data = self.sock.recv(65536)
                if not data:
                    raise ControlError("the server closed the connection")
                self.buffer += data
        except (OSError, ValueError) as exc:
            raise ControlError(f"Communication error: {exc}") from None

    def close(self) -> None:
        self.sock.close()


def find_socket(path: str | None, bind: str | None) -> str:
    if path:
        return path
    directory = runtime_dir()
    if bind:
        from monoceros.arbiter.control import instance_name

        return os.path.join(directory, instance_name([_listener_name(bind)]) + ".ctl")
    found = sorted(glob.glob(os.path.join(directory, "*.ctl")))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ControlError(f"no control socket in {directory}: is a server running? (or give -s PATH)")
    names = ", ".join(os.path.basename(name) for name in found)
    raise ControlError(f"several servers in {directory} ({names}): choose one with -s PATH or -b BIND")


def _listener_name(bind: str) -> str:
    """How the server prints a listener given as ``bind`` (what its per-instance socket is named after)."""
    if bind.startswith("unix:"):
        return "unix:" + bind[5:].removeprefix("//")
    host, _, port = bind.removeprefix("tcp://").rpartition(":")
    return f"http://{host or '0.0.0.0'}:{port or '8000'}" if port.isdigit() else f"http://{bind}:8000"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="monoceros ctl", description="Send a command to a running server.")
    parser.add_argument("-s", "--socket", help="the control socket's path")
    parser.add_argument("-b", "--bind", help="the server's first bind address, for its per-instance socket")
    parser.add_argument("-j", "--json", action="store_true", help="print the answer's data as JSON")
    parser.add_argument("-c", "--command", help="the command, as one string (as gunicornc -c)")
    parser.add_argument("words", nargs="*", help="the command: show workers, worker add 2, reload, help ...")
    args = parser.parse_args(argv)
    command = args.command or " ".join(args.words)
    if not command:
        parser.error("no command given (try: help)")
    try:
        client = Client(find_socket(args.socket, args.bind))
        try:
            answer = client.request(command)
        finally:
            client.close()
    except ControlError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
    if answer.get("status") != "ok":
        print(f"Error: {answer.get('error', answer)}", file=sys.stderr)
        sys.exit(1)
    data = answer.get("data", {})
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(render(command, data))


def render(command: str, data: dict[str, Any]) -> str:
    """A human reading of an answer: tables for the workers and stats, JSON for the rest."""
    words = command.lower().split()
    if words[:2] == ["show", "workers"]:
        return workers_table(data.get("workers", []))
    if words[:2] == ["show", "stats"]:
        return "\n".join(f"{key}: {value}" for key, value in data.items())
    if words[:1] == ["help"]:
        commands = data.get("commands", {})
        width = max((len(name) for name in commands), default=0)
        return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in commands.items())
    return json.dumps(data, indent=2) if data else "OK"


def workers_table(workers: list[dict[str, Any]]) -> str:
    rows = [("SLOT", "PID", "AGE", "STATE", "REQS", "RSS", "PSS", "BEAT", "CURRENT", "LAST EXIT IN SLOT")]
    for w in workers:
        current = w.get("current")
        doing = f"{current['method']} {current['path']} {current['seconds']:.1f}s" if current else "-"
        last = w.get("last_exit_in_slot")
        exited = f"{last['reason']} (pid {last['pid']}, {_ago(last.get('at'))})" if last else "-"
        rows.append(
            (
                str(w.get("slot") or "-"),
                str(w["pid"]),
                str(w["age"]),
                str(w.get("state", "booted" if w.get("booted") else "booting")),
                "-" if w.get("requests") is None else str(w["requests"]),
                _mib(w.get("rss")),
                _mib(w.get("pss")),
                "-" if w.get("last_heartbeat") is None else f"{w['last_heartbeat']:.1f}s",
                doing,
                exited,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _mib(value: Any) -> str:
    return "-" if not value else f"{value / (1024 * 1024):.1f}M"


def _ago(at: Any) -> str:
    if not at:
        return "?"
    seconds = max(0.0, time.time() - float(at))
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"
