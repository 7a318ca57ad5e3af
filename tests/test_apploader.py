"""The application loader: `module:expression` grammar, Gunicorn's messages, paths, caching and reload."""

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monoceros.app.loader import WSGIApplication, import_app
from monoceros.config.errors import ConfigError
from monoceros.errors import APP_LOAD_ERROR, WORKER_BOOT_ERROR, AppImportError, HaltServer

TESTS_DIR = str(Path(__file__).parent)


@dataclass
class AppCfg:
    chdir: str | None = None
    pythonpath: str | None = TESTS_DIR
    wsgi_app: str | None = None
    paste: str | None = None
    raw_paste_global_conf: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """The loader changes cwd, sys.path and sys.modules on purpose: give every test a clean slate."""
    cwd, path, modules = os.getcwd(), list(sys.path), set(sys.modules)
    sys.path.insert(0, TESTS_DIR)
    yield
    os.chdir(cwd)
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def call(app: Callable[..., Iterable[bytes]]) -> tuple[str, bytes]:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses.append(status)

    body = b"".join(app({}, start_response))
    return statuses[0], body


def test_module_alone_means_application() -> None:
    assert call(import_app("fixtureapps.hello")) == ("200 OK", b"hello")


def test_module_and_variable() -> None:
    from fixtureapps import hello

    assert import_app("fixtureapps.hello:app") is hello.application


@pytest.mark.parametrize(
    ("uri", "body"),
    [
        ("fixtureapps.factory:create_app()", b"hello"),
        ("fixtureapps.factory:create_app('hi', 3)", b"hihihi"),
        ("fixtureapps.factory:create_app(times=2, greeting='yo')", b"yoyo"),
        ("fixtureapps.factory:AppClass('from-class')", b"from-class"),
        ("fixtureapps.factory: create_app( 'spaced' ) ", b"spaced"),
    ],
)
def test_factory_with_literal_arguments(uri: str, body: bytes) -> None:
    assert call(import_app(uri)) == ("200 OK", body)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("fixtureapps.hello:missing", "Failed to find attribute 'missing' in 'fixtureapps.hello'."),
        ("fixtureapps.hello:not_callable", "Application object must be callable."),
        ("fixtureapps.not_callable", "Application object must be callable."),
        ("fixtureapps.hello:none_app", "Failed to find application object: 'none_app'"),
        ("fixtureapps.factory:returns_none()", "Failed to find application object: 'returns_none()'"),
        ("fixtureapps.hello:", "Failed to parse '' as an attribute name or function call."),
        ("fixtureapps.hello:app.x", "Failed to parse 'app.x' as an attribute name or function call."),
        ("fixtureapps.hello:1 +", "Failed to parse '1 +' as an attribute name or function call."),
        ("fixtureapps.factory:os.create()", "Function reference must be a simple name: 'os.create()'"),
        (
            "fixtureapps.factory:create_app(greeting)",
            "Failed to parse arguments as literal values: 'create_app(greeting)'",
        ),
        (
            "fixtureapps.factory:create_app(**{'times': 2})",
            "Failed to parse arguments as literal values: \"create_app(**{'times': 2})\"",
        ),
        (
            "fixtureapps.factory:create_app(*['a'])",
            "Failed to parse arguments as literal values: \"create_app(*['a'])\"",
        ),
    ],
)
def test_app_import_errors_carry_gunicorn_messages(uri: str, message: str) -> None:
    with pytest.raises(AppImportError) as info:
        import_app(uri)
    assert str(info.value) == message


def test_arguments_are_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    uri = f"fixtureapps.factory:create_app(__import__('os').system('touch {marker}'))"
    with pytest.raises(AppImportError, match="literal values"):
        import_app(uri)
    assert not marker.exists()


def test_wrong_factory_call_is_an_app_import_error_with_pythons_message() -> None:
    with pytest.raises(AppImportError, match=r"^TypeError: create_app\(\) takes from 0 to 2 positional"):
        import_app("fixtureapps.factory:create_app(1, 2, 3)")
    with pytest.raises(AppImportError, match=r"^TypeError: .*__init__\(\) missing 1 required"):
        import_app("fixtureapps.factory:AppClass()")


def test_type_error_inside_the_factory_propagates_with_its_traceback() -> None:
    with pytest.raises(TypeError, match="has no len") as info:
        import_app("fixtureapps.factory:broken_factory()")
    assert not isinstance(info.value, AppImportError)
    assert info.traceback[-1].name == "broken_factory"


def test_import_errors_propagate_unchanged() -> None:
    with pytest.raises(ModuleNotFoundError, match="monoceros_no_such_module_for_tests"):
        import_app("fixtureapps.broken_import")
    with pytest.raises(ModuleNotFoundError, match="fixtureapps.nope"):
        import_app("fixtureapps.nope:app")


def test_a_file_name_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "hintapp.py").write_text("application = None\n")
    os.chdir(tmp_path)
    with pytest.raises(ImportError, match=r"^Failed to find application, did you mean 'hintapp:make\(\)'\?$"):
        import_app("hintapp.py:make()")


def test_loader_needs_an_app_uri() -> None:
    with pytest.raises(ConfigError, match=r"^No application module specified\.$"):
        WSGIApplication(AppCfg())


def test_cli_uri_wins_over_wsgi_app_setting() -> None:
    loader = WSGIApplication(AppCfg(wsgi_app="fixtureapps.factory:create_app('cfg')"), "fixtureapps.hello")
    assert loader.app_uri == "fixtureapps.hello"
    assert call(loader.load()) == ("200 OK", b"hello")
    assert WSGIApplication(AppCfg(wsgi_app="fixtureapps.hello:app")).app_uri == "fixtureapps.hello:app"


def test_chdir_and_pythonpath_are_applied_at_construction(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "only_in_b.py").write_text("from fixtureapps.hello import application\n")
    os.chdir(tmp_path)
    cfg = AppCfg(chdir=TESTS_DIR, pythonpath=f"{tmp_path / 'a'},{tmp_path / 'b'}")
    loader = WSGIApplication(cfg, "only_in_b")
    assert os.getcwd() == TESTS_DIR
    # Gunicorn puts each entry in front in turn, so the last one listed comes first.
    assert sys.path[:3] == [str(tmp_path / "b"), str(tmp_path / "a"), TESTS_DIR]
    assert call(loader.wsgi()) == ("200 OK", b"hello")


def test_relative_pythonpath_is_resolved_after_chdir(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    WSGIApplication(AppCfg(chdir=str(tmp_path), pythonpath="lib"), "x")
    assert sys.path[0] == str(tmp_path / "lib")


def test_wsgi_loads_once_and_caches() -> None:
    loader = WSGIApplication(AppCfg(), "fixtureapps.factory:create_app()")
    first = loader.wsgi()
    assert loader.wsgi() is first
    assert loader.load() is not first  # load() itself never caches: a factory is called again


def test_reload_reimports_the_module(tmp_path: Path) -> None:
    module = tmp_path / "reloadme.py"
    module.write_text("def application(e, s):\n    s('200 OK', [])\n    return [b'one']\n")
    loader = WSGIApplication(AppCfg(pythonpath=str(tmp_path)), "reloadme")
    assert call(loader.wsgi()) == ("200 OK", b"one")
    module.write_text("def application(e, s):\n    s('200 OK', [])\n    return [b'second']\n")
    os.utime(module, (1, 1))  # a different mtime and size: the cached bytecode is invalid for sure
    assert call(loader.wsgi()) == ("200 OK", b"one")  # cached until reload()
    loader.reload()
    assert call(loader.wsgi()) == ("200 OK", b"second")


def test_reload_takes_new_settings(tmp_path: Path) -> None:
    loader = WSGIApplication(AppCfg(), "fixtureapps.hello")
    loader.reload(AppCfg(chdir=str(tmp_path)))
    assert os.getcwd() == str(tmp_path)
    assert call(loader.wsgi()) == ("200 OK", b"hello")


def test_exit_codes_and_halt_server() -> None:
    assert (WORKER_BOOT_ERROR, APP_LOAD_ERROR) == (3, 4)
    halt = HaltServer("App failed to load.", APP_LOAD_ERROR)
    assert (halt.reason, halt.exit_status) == ("App failed to load.", 4)
    assert str(halt) == "<HaltServer 'App failed to load.' 4>"
    assert not isinstance(halt, Exception)  # an app's `except Exception` must not stop a halt
