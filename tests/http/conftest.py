"""Every test here runs on both paths: the Python parser and writer, and the native fast path under them
(``native=True``, when ``monoceros.http._speedups`` was built). A test that names ``native`` itself keeps
its choice; the fixture only changes the default, in this process and for these tests: a parser is native
unless told otherwise (and its connection's writer with it), and a module's ``ResponseWriter`` is the
native one. A module that
compares the two paths itself says so (``COMPARES_PATHS = True``) and runs once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from monoceros.http import NATIVE_AVAILABLE, NativeResponseWriter, RequestParser

PATHS = ["python", pytest.param("native", marks=pytest.mark.skipif(not NATIVE_AVAILABLE, reason="not built"))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "parser_path" in metafunc.fixturenames and not getattr(metafunc.module, "COMPARES_PATHS", False):
        metafunc.parametrize("parser_path", PATHS, indirect=True)


@pytest.fixture(autouse=True)
def parser_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = getattr(request, "param", "python")
    if path == "native":
        plain_init = RequestParser.__init__

        def native_init(self: RequestParser, *args: Any, native: bool = True, **kwargs: Any) -> None:
            plain_init(self, *args, native=native, **kwargs)

        monkeypatch.setattr(RequestParser, "__init__", native_init)
        if hasattr(request.module, "ResponseWriter"):
            monkeypatch.setattr(request.module, "ResponseWriter", NativeResponseWriter)
    yield path
