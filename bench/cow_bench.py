"""Copy-on-write with ``--preload``: the PSS and USS of 4 workers serving a Django app under load, for the
work tree and for another revision (default: the one before ``gc.freeze()`` in the master).

    .venv/bin/python bench/cow_bench.py [BASE_REV] [SECONDS]

Each revision's ``src`` is exported with ``git archive`` and run from there (``PYTHONPATH``). The app is the
test suite's Django project (admin login page: templates, forms, the CSRF machinery), its database migrated
first. wrk loads it for SECONDS (default 60) with 8 connections; then each worker's ``/proc/PID/smaps_rollup``
is read: PSS (its share of the pages) and USS (pages only it has), summed over the 4 workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests" / "functional"
PY = str(ROOT / ".venv" / "bin" / "python")


def export(rev: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def rollup(pid: int) -> tuple[int, int]:
    """(PSS, USS) in KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0])
    return fields["Pss"], fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def measure(src: Path, seconds: int, work: Path, port: int) -> tuple[int, int, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        PYTHONPATH=f"{src}{os.pathsep}{TESTS}",
        DJANGO_SETTINGS_MODULE="djangoproject.settings",
        DJANGO_TEST_DB=str(work / "db.sqlite3"),
    )
    setup = (
        "import django; django.setup(); from django.core.management import call_command;"
        " call_command('migrate', verbosity=0)"
    )
    subprocess.run([PY, "-c", setup], check=True, cwd=work, env=env, timeout=300)
    argv = [
        PY,
        "-m",
        "monoceros",
        "-w",
        "4",
        "--preload",
        "-b",
        f"127.0.0.1:{port}",
        "djangoproject.wsgi:application",
    ]
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(children(proc.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        url = f"http://127.0.0.1:{port}/admin/login/"
        out = subprocess.run(
            ["wrk", "-t1", "-c8", f"-d{seconds}s", url], capture_output=True, text=True, check=True
        ).stdout
        requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
        pss = uss = 0
        for pid in children(proc.pid):
            p, u = rollup(pid)
            pss, uss = pss + p, uss + u
        return pss, uss, requests
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    with tempfile.TemporaryDirectory(prefix="monoceros-cow-") as tmp:
        work = Path(tmp)
        results = {}
        for name, rev, port in (("base", base, 18301), ("head", "HEAD", 18302)):
            src = export(rev, work / name)
            (work / name / "run").mkdir()
            results[name] = measure(src, seconds, work / name / "run", port)
    for name, (pss, uss, requests) in results.items():
        print(
            f"{name}: 4 workers PSS {pss / 1024:.1f} MiB, USS {uss / 1024:.1f} MiB after {requests} requests"
        )


if __name__ == "__main__":
    main()
