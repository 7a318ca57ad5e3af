"""Worker lifecycle under the master: heartbeat timeout, boot failures, graceful stop, max_requests, HUP."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness import Response, Server, pid_alive, wait_for

FAST = ["--graceful-timeout", "3"]


def test_hung_worker_is_aborted_then_replaced(
    server_factory: Callable[..., Server], worker_class: str
) -> None:
    server = server_factory([*FAST, "--timeout", "2", "--workers", "2"])
    server.wait_workers(2)
    results: list[Response | None] = []
    hung = threading.Thread(target=lambda: results.append(server.try_request("/sleep?30", timeout=20)))
    hung.start()
    server.wait_log("WORKER TIMEOUT (pid:", timeout=10)
    line = next(ln for ln in server.log.splitlines() if "WORKER TIMEOUT (pid:" in ln)
    victim = int(line.split("WORKER TIMEOUT (pid:")[1].split(")")[0])
    # the other worker keeps serving while one is stuck
    assert all(server.request().worker_pid != victim for _ in range(3))
    wait_for(lambda: not pid_alive(victim), 10, "the hung worker to go away")
    server.wait_workers(2)
    hung.join(20)
    assert victim not in server.workers()
    # Before it went, it said where it was stuck and on what (the master's APP_SOURCE sleeps in /sleep).
    if worker_class in ("sync", "gthread"):
        report = next(ln for ln in server.log.split("\n[") if "Worker stuck past the timeout" in ln)
        assert f"(pid {victim}); in flight: GET /sleep?30 from" in report
        assert "time.sleep(float(query" in report and "Thread MainThread:" in report


def test_import_error_stops_the_server_with_3(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "badimport.py").write_text("import module_that_does_not_exist\n")
    started = time.monotonic()
    server = server_factory([*FAST, "--workers", "2"], app="badimport:app", ready=False)
    assert server.wait(10) == 3
    assert time.monotonic() - started < 8
    log = server.log
    assert "Reason: Worker failed to boot." in log
    assert log.count("Booting worker with pid") <= 2  # no boot loop
    assert "No module named 'module_that_does_not_exist'" in log


def test_a_class_that_is_no_worker_is_refused_before_binding(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    (tmp_path / "notaworker.py").write_text("class NotAWorker:\n    pass\n")
    server = server_factory(
        [*FAST, "--bind", "127.0.0.1:0"], worker_class="notaworker.NotAWorker", ready=False, bind=False
    )
    assert server.wait(10) == 1
    lines = [line for line in server.log.splitlines() if line.strip()]
    assert lines == [
        "Error: worker_class: notaworker.NotAWorker (a subclass of object) is not a worker class: use sync,"
        " gthread, gevent, asgi, a subclass of monoceros.workers.base.Worker, or of Gunicorn's"
        " gunicorn.workers.base.Worker"
    ]


def test_app_not_found_stops_the_server_with_4(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "noattr.py").write_text("x = 1\n")
    server = server_factory([*FAST, "--workers", "1"], app="noattr:app", ready=False)
    assert server.wait(10) == 4
    log = server.log
    assert "Reason: App failed to load." in log
    assert log.count("Failed to find attribute 'app' in 'noattr'.") == 1
    assert log.count("Booting worker with pid") == 1


def test_preload_failure_exits_from_the_master(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "noattr.py").write_text("x = 1\n")
    (tmp_path / "badimport.py").write_text("import module_that_does_not_exist\n")
    bad_attr = server_factory([*FAST, "--preload"], app="noattr:app", ready=False)
    bad_import = server_factory([*FAST, "--preload"], app="badimport:app", ready=False)
    assert bad_attr.wait(10) == 4
    assert bad_import.wait(10) == 3
    assert "Traceback" in bad_attr.log
    assert bad_import.log.count("ModuleNotFoundError") == 1
    assert "Booting worker" not in bad_attr.log + bad_import.log


def test_term_waits_for_the_request_in_flight(server_factory: Callable[..., Server]) -> None:
    server = server_factory(["--graceful-timeout", "10", "--timeout", "30", "--workers", "1"])
    (worker,) = server.wait_workers(1)
    results: list[Response | None] = []
    slow = threading.Thread(target=lambda: results.append(server.try_request("/sleep?1.5", timeout=10)))
    slow.start()
    server.wait_log("app: /sleep?1.5 started")  # in flight: a request still in the backlog would be lost
    server.send(signal.SIGTERM)
    slow.join(10)
    assert results and results[0] is not None and results[0].status == 200
    assert results[0].worker_pid == worker
    assert server.wait(10) == 0


def test_graceful_timeout_escalates_to_sigkill(server_factory: Callable[..., Server]) -> None:
    server = server_factory(["--graceful-timeout", "1", "--timeout", "30", "--workers", "1"])
    (worker,) = server.wait_workers(1)
    threading.Thread(target=lambda: server.try_request("/sleep?20", timeout=20), daemon=True).start()
    server.wait_log("app: /sleep?20 started")  # the worker is busy for 20 s
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 8  # 1 s of grace, then SIGKILL: not the 20 s of the request
    assert not pid_alive(worker)


def test_max_requests_recycles_workers(server_factory: Callable[..., Server]) -> None:
    server = server_factory([*FAST, "--workers", "1", "--max-requests", "3"])
    (first,) = server.wait_workers(1)
    # start_server's readiness probe was the first worker's first request
    pids = [server.request().worker_pid for _ in range(6)]
    assert pids[:2] == [first] * 2
    assert pids[2] != first and pids[2:5] == [pids[2]] * 3
    assert pids[5] not in (first, pids[2])
    assert server.log.count("Autorestarting worker after current request.") == 2


def test_hup_applies_the_new_worker_count(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    conf = tmp_path / "monoceros.conf.py"
    conf.write_text("workers = 2\nraw_env = ['MASTER_TEST=one']\n")
    server = server_factory([*FAST, "-c", str(conf)])
    old = server.wait_workers(2)
    assert server.request("/env?MASTER_TEST").body == b"one"
    conf.write_text("workers = 3\nraw_env = ['MASTER_TEST=two']\n")
    server.send(signal.SIGHUP)
    server.wait_log("Hang up: Master")
    new = wait_for(lambda: (w := server.workers()) and len(w) == 3 and not set(w) & set(old) and w)
    assert len(new) == 3  # type: ignore[arg-type]
    assert server.request("/env?MASTER_TEST").body == b"two"
    assert server.stop() == 0


LEAK_APP = """
import os

kept = []

def app(environ, start_response):
    if environ["PATH_INFO"] == "/leak":
        kept.append(b"x" * (4 << 20))  # written, so the pages are really the worker's
    body = ("pid=%d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def test_a_leaking_worker_is_recycled_without_a_failed_request(server_factory: Callable[..., Server]) -> None:
    server = server_factory(
        [*FAST, "--workers", "1", "--max-worker-memory", "60"],
        app="leakapp:app",
        files={"leakapp.py": LEAK_APP},
    )
    (first,) = server.wait_workers(1)
    failures = 0
    pids = set()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        response = server.try_request("/leak")
        if response is None or response.status != 200:
            failures += 1
            continue
        pids.add(response.worker_pid)
        if len(pids) > 1:
            break
    assert len(pids) > 1, "the leaking worker was never recycled"
    assert failures == 0
    server.wait_log("over max_worker_memory")
    wait_for(lambda: not pid_alive(first), 10, "the old worker to exit")
    assert server.log.count("Booting worker") == 2  # one replacement, no crash loop


def test_shutdown_delay_keeps_serving_new_connections_after_term(
    server_factory: Callable[..., Server],
) -> None:
    """TERM with --shutdown-delay 2: new connections are accepted and served for the 2 s (a load balancer
    that has not heard of the stop yet), then the graceful stop runs and the master exits 0."""
    server = server_factory([*FAST, "--workers", "2", "--shutdown-delay", "2"])
    server.wait_workers(2)
    signalled = time.monotonic()
    server.send(signal.SIGTERM)
    server.wait_log("Stopping in 2 s (shutdown_delay)")
    served = failed = 0
    started = time.monotonic()
    while time.monotonic() - started < 1.5:  # well inside the delay: every request must be answered
        response = server.try_request("/", timeout=5)
        if response is not None and response.status == 200:
            served += 1
        else:
            failed += 1
    assert failed == 0 and served > 10
    assert server.wait(15) == 0
    assert "shutdown_delay over: stopping" in server.log
    # the delay was honoured, not cut short: the stop began 2 s after the signal
    assert time.monotonic() - signalled >= 1.9


def test_a_second_term_does_not_wait_for_the_delay(server_factory: Callable[..., Server]) -> None:
    server = server_factory([*FAST, "--workers", "1", "--shutdown-delay", "60"])
    server.send(signal.SIGTERM)
    server.wait_log("Stopping in 60 s (shutdown_delay)")
    started = time.monotonic()
    server.send(signal.SIGTERM)
    assert server.wait(15) == 0
    assert time.monotonic() - started < 10
