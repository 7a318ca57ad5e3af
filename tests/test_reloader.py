"""The reloader on real files: what it watches, each engine seeing a change, what a setting means."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from monoceros.app import reloader
from monoceros.app.reloader import Reloader, ReloaderUnavailable, engine_name


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def _started(tmp_path: Path, engine: str, **kwargs: object) -> tuple[Reloader, threading.Event, list[str]]:
    seen: list[str] = []
    done = threading.Event()

    def changed(path: str) -> None:
        seen.append(path)
        done.set()

    watcher = Reloader(changed, engine=engine, **kwargs)  # type: ignore[arg-type]
    return watcher, done, seen


@pytest.mark.parametrize("engine", ["poll", "inotify"])
def test_a_changed_extra_file_is_reported_once(tmp_path: Path, engine: str) -> None:
    if engine == "inotify":
        pytest.importorskip("watchfiles")
    page = tmp_path / "t" / "page.html"
    page.parent.mkdir()
    page.write_text("1")
    watcher, done, seen = _started(tmp_path, engine, extra_files=[str(tmp_path / "t" / "*.html")])
    watcher.start()
    try:
        _touch_later(page)
        assert done.wait(10)
    finally:
        watcher.stop()
    assert seen == [str(page)]


def test_a_change_before_the_thread_runs_is_not_missed(tmp_path: Path) -> None:
    source = tmp_path / "a.py"
    source.write_text("x = 1\n")
    watcher, done, seen = _started(tmp_path, "poll")
    watcher.add_file(str(source))
    watcher._changed_file()  # the snapshot start() takes
    watcher._seen[str(source)] = 0.0  # as if the file changed right after it
    threading.Thread.start(watcher)
    try:
        assert done.wait(10)
    finally:
        watcher.stop()
    assert seen == [str(source)]


def test_watched_files_are_the_modules_plus_added_and_patterns(tmp_path: Path) -> None:
    added = tmp_path / "broken.py"
    added.write_text("def f(:\n")
    watcher = Reloader(lambda path: None, extra_files=[str(tmp_path / "*.txt")])
    (tmp_path / "n.txt").write_text("")
    watcher.add_file(str(added))
    files = watcher.files()
    assert os.path.abspath(reloader.__file__) in files
    assert {str(added), str(tmp_path / "n.txt")} <= files


def test_engine_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reloader, "has_watchfiles", lambda: True)
    assert [engine_name(e) for e in ("auto", "poll", "inotify")] == ["inotify", "poll", "inotify"]
    monkeypatch.setattr(reloader, "has_watchfiles", lambda: False)
    assert engine_name("auto") == "poll"
    with pytest.raises(ReloaderUnavailable, match=r"pip install 'monoceros\[reload\]'"):
        engine_name("inotify")
