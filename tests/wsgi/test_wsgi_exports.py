"""The public surface of monoceros.wsgi is exactly __all__, and the layer rule holds."""

from __future__ import annotations

import ast
import pathlib

import monoceros.wsgi

EXPECTED = {
    "EMPTY_INPUT",
    "BodySource",
    "ConfigurationProblem",
    "ConnectionEnviron",
    "EmptyInput",
    "EnvironBuilder",
    "ErrorLog",
    "FileWrapper",
    "IPTrust",
    "InputStream",
    "InvalidSchemeHeaders",
    "RequestTimeout",
    "ResponseInfo",
    "StartResponse",
    "Transport",
    "WSGIApp",
    "WSGIEnviron",
    "input_for",
    "run_app",
}


def test_all_is_locked():
    assert set(monoceros.wsgi.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(monoceros.wsgi, name) is not None


def test_layer_imports_only_http_and_the_stdlib():
    package = pathlib.Path(monoceros.wsgi.__file__).parent
    forbidden = {"socket", "select", "selectors", "logging", "ssl"}
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in forbidden, f"{module.name} imports {name}"
                if top == "monoceros":
                    assert name == "monoceros.http", f"{module.name} imports {name}"
