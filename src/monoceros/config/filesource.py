"""Config files: finding, executing (`PATH`, `file:PATH`) or importing (`python:MODULE`) them, and applying
their module-level names to a `Config`.

A name that matches a setting is set (validated, with the file as its source). Unlike Gunicorn, which
ignores every other name silently, a lower-case plain value that is not a setting is reported with the
closest setting name, because it is most likely a typo (`worker = 4`).
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Mapping
from types import ModuleType

from monoceros.config.core import Config
from monoceros.config.errors import ConfigError, ConfigFileError

DEFAULT_FILES = ("monoceros.conf.py", "gunicorn.conf.py")


def find_default_file(cwd: str) -> str | None:
    """`./monoceros.conf.py`, else `./gunicorn.conf.py`, if one exists."""
    for name in DEFAULT_FILES:
        path = os.path.join(cwd, name)
        if os.path.exists(path):
            return path
    return None


def read(location: str) -> tuple[dict[str, object], str, list[str]]:
    """The namespace of the config at `location`, a source label for it, and warnings."""
    if location.startswith("python:"):
        module_name = location[len("python:") :]
        return vars(_import(module_name)), f"config module {module_name}", []
    path = location[len("file:") :] if location.startswith("file:") else location
    warnings = []
    if not path.endswith((".py", ".pyc")):
        warnings.append(f"config file {path!r} has no .py extension; it is read as Python anyway")
    return vars(_execute(path)), f"config file {path}", warnings


def _import(module_name: str) -> ModuleType:
    # Gunicorn puts the working directory on sys.path before importing the config module.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ConfigError(f"config module {module_name!r} was not found on the Python path")
    try:
        return importlib.import_module(module_name)
    except Exception:
        raise ConfigFileError(
            f"Failed to read config module: {module_name}", traceback.format_exc()
        ) from None


def _execute(path: str) -> ModuleType:
    if not os.path.exists(path):
        raise ConfigError(f"config file {path!r} does not exist")
    # Executed as the module `__config__` (as Gunicorn does), so pickling and dataclasses in it work.
    loader = importlib.machinery.SourceFileLoader("__config__", path)
    spec = importlib.util.spec_from_file_location("__config__", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["__config__"] = module
    try:
        loader.exec_module(module)
    except Exception as exc:
        raise ConfigFileError(f"Failed to read config file: {path}", _user_traceback(exc, path)) from None
    return module


def _user_traceback(exc: Exception, path: str) -> str:
    """The traceback from the config file's first frame on: our loading machinery is noise to the user."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def apply(cfg: Config, namespace: Mapping[str, object], source: str) -> list[str]:
    """Set every setting the namespace names; all bad values are reported together. Returns warnings."""
    errors: list[str] = []
    warnings: list[str] = []
    used = _names_read(namespace)
    for name, value in namespace.items():
        if name == "config":
            warnings.append(f"{source}: `config` has no effect in a config file")
        elif name in cfg.registry:
            try:
                cfg.set(name, value, source)
            except ConfigError as exc:
                errors.append(str(exc))
        else:
            warning = None if name in used else unknown_name_warning(name, value, cfg.registry.names())
            if warning:
                warnings.append(f"{source}: {warning}")
    if errors:
        raise ConfigError("\n".join(errors))
    return warnings


def _names_read(namespace: Mapping[str, object]) -> set[str]:
    """The names the config file's own code reads: its helper variables (`cores`, `host`, `port`), which are
    never typos of a setting, however close their spelling."""
    path = namespace.get("__file__")
    if not isinstance(path, str) or not path.endswith(".py"):
        return set()
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), path)
    except (OSError, SyntaxError, ValueError):
        return set()
    return {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def unknown_name_warning(name: str, value: object, settings: list[str]) -> str | None:
    """A warning for a module-level name that is not a setting but is spelled almost like one (a likely
    typo), else None: a config file is Python, and its other names are its own business."""
    if name.startswith("_"):
        return None
    if name.lower() in settings:
        return f"`{name}` is not a setting (names are lower-case); did you mean `{name.lower()}`?"
    if inspect.ismodule(value) or inspect.isclass(value) or not name.islower():
        return None  # imports and CONSTANTS are the config file's own business
    if callable(value):
        # Helper functions are common; only one named almost like a hook is worth a word.
        close = difflib.get_close_matches(name, settings, n=1, cutoff=0.8)
        return f"`{name}` is not a setting; did you mean `{close[0]}`?" if close else None
    close = difflib.get_close_matches(name, settings, n=1, cutoff=0.8)
    return f"`{name}` is not a setting; did you mean `{close[0]}`?" if close else None
