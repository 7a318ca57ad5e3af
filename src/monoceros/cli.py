"""The `monoceros` command line entry point (placeholder until the settings layer lands)."""

import sys

from monoceros import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-v"], ["--version"]):
        print(f"monoceros (version {__version__})")
        return
    print("monoceros: the server is not implemented yet", file=sys.stderr)
    raise SystemExit(1)
