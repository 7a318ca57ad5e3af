"""`--spew`: print every line of Python the server executes, as Gunicorn's debugging option does.

The trace function is installed in the master before it starts; a forked worker inherits it (the tracing
state of the forking thread survives `fork`), so the workers' lines are printed too. Each line shows the
module, the line number and the source text; it goes to stdout, unbuffered by the tracer itself.
"""

from __future__ import annotations

import linecache
import sys
from types import FrameType
from typing import Any, TextIO


class Spew:
    """A ``sys.settrace`` function that writes ``module:line: source`` for each line event."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Spew:
        if event == "line":
            module = frame.f_globals.get("__name__", "?")
            source = linecache.getline(frame.f_code.co_filename, frame.f_lineno).rstrip()
            out = self.out or sys.stdout
            out.write(f"{module}:{frame.f_lineno}: {source}\n")
        return self


def spew() -> None:
    """Trace every line from now on, in this thread (and in processes it forks)."""
    sys.settrace(Spew())
