"""The package layers of docs/internals.md: no module imports a package it is not allowed to.

Imports are read from the source (``ast``), so an import inside a function counts as much as one at the top;
imports under ``if TYPE_CHECKING:`` are left out (they exist for annotations only and never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import monoceros

ROOT = Path(monoceros.__file__).parent

# package -> the packages its modules may import (besides itself and the standard library). The order is the
# layer order of docs/internals.md; "base" is monoceros/__init__.py, errors.py and process.py.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "http": set(),
    "wsgi": {"http"},
    "asgi": {"http"},
    "config": {"base"},
    "observability": {"base", "http", "config"},
    "app": {"base", "config"},
    "workers": {"base", "http", "wsgi", "asgi", "config", "observability", "app"},
    "arbiter": {"base", "config", "observability", "app", "workers"},
    "top": {"base", "http", "wsgi", "asgi", "config", "observability", "app", "workers", "arbiter"},
}
BASE_MODULES = {"monoceros", "monoceros.errors", "monoceros.process"}
# Modules at the top of the tree: the command line and Gunicorn-shaped import paths kept as aliases.
TOP_MODULES = {
    "monoceros.cli",
    "monoceros.__main__",
    "monoceros.glogging",
    "monoceros.instrument",
    "monoceros.ctl",
    "monoceros.top",
}


def package_of(module: str) -> str:
    if module in BASE_MODULES:
        return "base"
    if module in TOP_MODULES or module.startswith("monoceros.instrument."):
        return "top"
    parts = module.split(".")
    assert parts[0] == "monoceros" and len(parts) > 1, module
    if parts[1] not in ALLOWED:
        raise AssertionError(f"{module} is in no layer: add it to ALLOWED or move it into a package")
    return parts[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def runtime_imports(path: Path, module: str) -> list[str]:
    """The monoceros modules ``path`` imports when it runs."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against this module's package
                    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{child.module}" if child.module else package
                else:
                    base = child.module or ""
                found.append(base)
            visit(child)

    visit(tree)
    return [name for name in found if name == "monoceros" or name.startswith("monoceros.")]


MODULES = sorted(ROOT.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    for path in MODULES:
        package_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_allowed_layers(path: Path) -> None:
    module = module_name(path)
    own = package_of(module)
    for imported in runtime_imports(path, module):
        if imported == "monoceros" and own != "base":
            # `from monoceros import X`: the names defined in monoceros/__init__.py (version, server name)
            continue
        target = package_of(imported)
        assert target == own or target in ALLOWED[own], f"{module} ({own}) imports {imported} ({target})"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The walk above must find imports inside functions and relative ones, or the test could never fail.
    src = tmp_path / "monoceros" / "http"
    src.mkdir(parents=True)
    mod = src / "_x.py"
    mod.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from monoceros.workers import engine\n"
        "def f():\n    from ..workers import base\n    import monoceros.arbiter\n"
    )
    global ROOT
    saved = ROOT
    ROOT = tmp_path / "monoceros"
    try:
        assert runtime_imports(mod, module_name(mod)) == ["monoceros.workers", "monoceros.arbiter"]
    finally:
        ROOT = saved
