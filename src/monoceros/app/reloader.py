"""`--reload`: a thread in each worker that watches the application's source files and ends the worker when
one of them changes; the master then forks a fresh one, which imports the new code.

What is watched: the file of every module imported in the worker (the application's and its libraries'), the
files that failed to import (so that fixing a syntax error brings the application back), and
`reload_extra_files` (paths or glob patterns, expanded again on every scan so a new template counts).

Engines (`reload_engine`): `poll` compares modification times every half second; `inotify` asks the kernel
through `watchfiles` (the optional extra `monoceros[reload]`) for changes in the directories of those files;
`auto` takes `inotify` when `watchfiles` is installed, `poll` otherwise.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable

POLL_INTERVAL = 0.5  # seconds between two scans of the poller (a change restarts the worker within ~1 s)
EXTRA = "monoceros[reload]"


class ReloaderUnavailable(RuntimeError):
    """`reload_engine = inotify` without `watchfiles` installed."""


def has_watchfiles() -> bool:
    return importlib.util.find_spec("watchfiles") is not None


def engine_name(setting: str) -> str:
    """The engine a `reload_engine` value stands for here: `poll` or `inotify`."""
    if setting == "inotify":
        if not has_watchfiles():
            raise ReloaderUnavailable(
                f"reload_engine: 'inotify' needs the watchfiles package: pip install '{EXTRA}'"
            )
        return "inotify"
    if setting == "auto" and has_watchfiles():
        return "inotify"
    return "poll"


class Reloader(threading.Thread):
    """Calls ``changed(path)`` once, from its own thread, when a watched file is modified or removed."""

    def __init__(
        self, changed: Callable[[str], None], extra_files: Iterable[str] = (), engine: str = "poll"
    ) -> None:
        super().__init__(name="monoceros-reloader", daemon=True)
        self._changed = changed
        self._patterns = list(extra_files)
        self._added: set[str] = set()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._seen: dict[str, float | None] = {}
        self.engine = engine

    def add_file(self, path: str) -> None:
        """Watch ``path`` too (a file that failed to import)."""
        with self._lock:
            self._added.add(os.path.abspath(path))

    def stop(self) -> None:
        self._stop_event.set()

    def files(self) -> set[str]:
        """Every file watched now."""
        found = set()
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                found.add(os.path.abspath(path[:-1] if path.endswith(".pyc") else path))
        for pattern in self._patterns:
            matches = glob.glob(pattern, recursive=True)
            found.update(os.path.abspath(p) for p in (matches or [pattern]))
        with self._lock:
            found |= self._added
        return found

    def start(self) -> None:
        """Note what every file looks like now, in the calling thread (before the worker serves), then
        watch from a thread of its own: a change made in between is not missed."""
        self._changed_file()
        super().start()

    def run(self) -> None:
        if self.engine == "inotify":
            self._watch()
        else:
            self._poll()

    def _changed_file(self) -> str | None:
        """A watched file whose modification time differs from the one first seen, if any."""
        seen = self._seen
        for path in self.files():
            mtime = _mtime(path)
            if path not in seen:
                seen[path] = mtime
            elif mtime != seen[path]:
                return path
        return None

    # -- engines ----------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stop_event.wait(POLL_INTERVAL):
            path = self._changed_file()
            if path is not None:
                self._changed(path)
                return

    def _watch(self) -> None:
        import watchfiles

        while not self._stop_event.is_set():
            files = self.files()
            directories = {d for d in {os.path.dirname(path) for path in files} if os.path.isdir(d)}
            if not directories:
                self._stop_event.wait(POLL_INTERVAL)
                continue
            for changes in watchfiles.watch(
                *directories,
                recursive=False,
                stop_event=self._stop_event,
                yield_on_timeout=True,  # (an empty set each second without a change)
                rust_timeout=1000,
                debounce=50,
                step=20,
            ):
                for _kind, changed in changes:
                    path = os.path.abspath(changed)
                    if path in files or self._matches_pattern(path):
                        self._changed(path)
                        return
                # A change made before the watch was in place, or in a file watched since.
                missed = self._changed_file()
                if missed is not None:
                    self._changed(missed)
                    return
                files = self.files()
                if not {os.path.dirname(path) for path in files} <= directories:
                    break  # modules imported since live in a directory not watched yet

    def _matches_pattern(self, path: str) -> bool:
        import fnmatch

        return any(fnmatch.fnmatch(path, os.path.abspath(pattern)) for pattern in self._patterns)


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return None  # removed (or replaced between two scans): a change once it comes back
