"""Run one of the C WSGI servers that have no command line (bjoern, meinheld) on ``bench/app.py``.

    python bench/c_peer.py bjoern|meinheld PORT

Used by ``peers.py`` and ``run.py``; each server is single-process, single-threaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import application  # noqa: E402


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "bjoern":
        import bjoern  # type: ignore[import-untyped]

        bjoern.run(application, "127.0.0.1", port)
    elif kind == "meinheld":
        import meinheld.server  # type: ignore[import-untyped]

        meinheld.server.listen(("127.0.0.1", port))
        meinheld.server.run(application)
    else:
        raise SystemExit(f"unknown server {kind!r}: bjoern or meinheld")


if __name__ == "__main__":
    main()
