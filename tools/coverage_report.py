"""Line coverage of `monoceros` per package, from the combined data of a `make test` run.

Every module of the package counts, also one no test imported (all its lines missed). Run after
`coverage combine`, with the same COVERAGE_FILE; `coverage report -m` has the figures per file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import coverage

import monoceros

# The packages named on their own line of the summary; the rest is everything else in monoceros.
HIGHLIGHTED = ("http", "wsgi")


@dataclass
class Tally:
    statements: int = 0
    missed: int = 0

    def add(self, statements: int, missed: int) -> None:
        self.statements += statements
        self.missed += missed

    @property
    def percent(self) -> float:
        return 100.0 if not self.statements else 100.0 * (self.statements - self.missed) / self.statements


def package_of(relative: Path) -> str:
    """The package a module belongs to: monoceros/http for http/_parser.py, monoceros/*.py for cli.py."""
    return f"monoceros/{relative.parts[0]}" if len(relative.parts) > 1 else "monoceros/*.py"


def main() -> int:
    cov = coverage.Coverage()
    cov.load()
    root = Path(monoceros.__file__).resolve().parent
    packages: dict[str, Tally] = {}
    for path in sorted(root.rglob("*.py")):
        _, statements, _, missing, _ = cov.analysis2(str(path))
        packages.setdefault(package_of(path.relative_to(root)), Tally()).add(len(statements), len(missing))
    if not any(tally.statements - tally.missed for tally in packages.values()):
        print("coverage: no data (was the suite run under `coverage run`?)", file=sys.stderr)
        return 1
    summary = {f"monoceros/{name}": Tally() for name in HIGHLIGHTED}
    summary["the rest"], summary["total"] = Tally(), Tally()
    for name, tally in packages.items():
        summary[name if name in summary else "the rest"].add(tally.statements, tally.missed)
        summary["total"].add(tally.statements, tally.missed)
    width = max(map(len, packages))
    print("\nLine coverage of monoceros: the tests, the servers they start and their workers")
    print(f"{'package':<{width}}  {'lines':>6}  {'missed':>6}  {'cover':>6}")
    for name, tally in sorted(packages.items()):
        print(f"{name:<{width}}  {tally.statements:>6}  {tally.missed:>6}  {tally.percent:>5.1f}%")
    print("-" * (width + 24))
    for name, tally in summary.items():
        print(f"{name:<{width}}  {tally.statements:>6}  {tally.missed:>6}  {tally.percent:>5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
