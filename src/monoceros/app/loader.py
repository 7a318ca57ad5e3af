"""Finding and importing the WSGI application named by APP_MODULE (`module:variable`, `module:factory()`).

Owns the `module:expression` grammar: the expression is a name or a call of a name with *literal*
arguments, checked with `ast` and `ast.literal_eval`; nothing the user wrote is ever evaluated as code.
Messages and the split between `ImportError` (worker exit 3) and `AppImportError` (exit 4) follow Gunicorn.
"""

import ast
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from types import ModuleType, TracebackType
from typing import Protocol

from monoceros.config.errors import ConfigError
from monoceros.errors import AppImportError

# We cannot check a WSGI signature at load time, only that the object is callable.
WSGICallable = Callable[..., Iterable[bytes]]


class AppConfig(Protocol):
    """The settings the loader reads."""

    @property
    def chdir(self) -> str | None: ...
    @property
    def pythonpath(self) -> str | None: ...
    @property
    def wsgi_app(self) -> str | None: ...
    @property
    def paste(self) -> str | None: ...
    @property
    def raw_paste_global_conf(self) -> list[str]: ...


class WSGIApplication:
    """The loader the arbiter and workers share (`server.app` in hooks).

    Built in the master, after the config and before daemonizing: the chdir and import paths are set
    here, once, so every forked worker imports the application from the same place.
    """

    def __init__(self, cfg: AppConfig, app_uri: str | None = None) -> None:
        uri = app_uri or cfg.wsgi_app
        if not uri:
            raise ConfigError("No application module specified.")
        self.cfg = cfg
        self.app_uri = uri
        self.callable: WSGICallable | None = None
        self._reimport = False
        self.apply_paths()

    def apply_paths(self) -> None:
        """`chdir` (also put on sys.path) then `pythonpath`, as Gunicorn orders them."""
        if self.cfg.chdir:
            os.chdir(self.cfg.chdir)
            if self.cfg.chdir not in sys.path:
                sys.path.insert(0, self.cfg.chdir)
        for path in (self.cfg.pythonpath or "").split(","):
            path = os.path.abspath(path.strip()) if path.strip() else ""
            # Each entry goes in front in turn, so the last one listed is searched first: Gunicorn's order.
            if path and path not in sys.path:
                sys.path.insert(0, path)

    def load(self) -> WSGICallable:
        """Import the module and return the application object (raises ImportError / AppImportError)."""
        if self.cfg.paste is not None:
            from monoceros.app.paste import load

            return load(self.app_uri, self.cfg.raw_paste_global_conf)
        app = import_app(self.app_uri, reimport=self._reimport)
        self._reimport = False
        return app

    def wsgi(self) -> WSGICallable:
        """The application, loaded on first use and then cached."""
        if self.callable is None:
            self.callable = self.load()
        return self.callable

    def reload(self, cfg: AppConfig | None = None) -> None:
        """HUP: take the reloaded settings, drop the cached application, re-import its module on next use."""
        if cfg is not None:
            self.cfg = cfg
            self.apply_paths()
        self.callable = None
        self._reimport = True


def import_app(uri: str, reimport: bool = False) -> WSGICallable:
    """`"pkg.mod:app"`, `"pkg.mod:create_app('prod', debug=False)"`, or `"pkg.mod"` (means `:application`)."""
    module_name, sep, expr_text = uri.partition(":")
    if not sep:
        expr_text = "application"
    module = _import_module(module_name, expr_text, reimport)
    name, call = _parse_expression(expr_text)
    try:
        app: object = getattr(module, name)
    except AttributeError:
        raise AppImportError(f"Failed to find attribute {name!r} in {module_name!r}.") from None
    if call is not None:
        app = _call_factory(app, *call)
    if app is None:
        raise AppImportError(f"Failed to find application object: {expr_text!r}")
    if not callable(app):
        raise AppImportError("Application object must be callable.")
    return app


def _import_module(module_name: str, expr_text: str, reimport: bool) -> ModuleType:
    try:
        if reimport and module_name in sys.modules:
            return importlib.reload(sys.modules[module_name])
        return importlib.import_module(module_name)
    except ImportError:
        if module_name.endswith(".py") and os.path.exists(module_name):
            hint = f"{module_name[:-3]}:{expr_text}"
            raise ImportError(f"Failed to find application, did you mean '{hint}'?") from None
        raise


def _parse_expression(text: str) -> tuple[str, tuple[list[object], dict[str, object]] | None]:
    """`app` -> ("app", None); `make('a', n=1)` -> ("make", (["a"], {"n": 1}))."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise AppImportError(f"Failed to parse {text!r} as an attribute name or function call.") from None
    if isinstance(node, ast.Name):
        return node.id, None
    if not isinstance(node, ast.Call):
        raise AppImportError(f"Failed to parse {text!r} as an attribute name or function call.")
    if not isinstance(node.func, ast.Name):
        raise AppImportError(f"Function reference must be a simple name: {text!r}")
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {_keyword_name(kw): ast.literal_eval(kw.value) for kw in node.keywords}
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise AppImportError(f"Failed to parse arguments as literal values: {text!r}") from None
    return node.func.id, (args, kwargs)


def _keyword_name(kw: ast.keyword) -> str:
    if kw.arg is None:  # `**mapping` is not a literal argument
        raise ValueError("double-star argument")
    return kw.arg


def _call_factory(factory: object, args: list[object], kwargs: dict[str, object]) -> object:
    if not callable(factory):
        raise AppImportError("Application object must be callable.")
    try:
        result: object = factory(*args, **kwargs)
    except TypeError as e:
        # A wrong call (bad arity) is the user's APP_MODULE: show Python's one-line message.
        # A TypeError raised *inside* the factory is a bug in the app: keep its traceback.
        if _never_entered(factory, e.__traceback__):
            message = "".join(traceback.format_exception_only(type(e), e)).strip()
            raise AppImportError(message) from None
        raise
    return result


def _never_entered(func: object, tb: TracebackType | None) -> bool:
    code = getattr(func, "__code__", None)
    if code is None:
        # A class or builtin: if the traceback stops in our frame, the call itself was refused.
        return tb is None or tb.tb_next is None
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return False
        tb = tb.tb_next
    return True
