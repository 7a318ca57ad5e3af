"""The installed entry points start: the console script and `python -m monoceros`."""

import subprocess
import sys

import monoceros


def test_module_entry_point_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "monoceros", "--version"], capture_output=True, text=True, check=True
    )
    assert monoceros.__version__ in out.stdout
