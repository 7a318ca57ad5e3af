"""A Django project served by a real master: the admin's login (CSRF cookie and token, session) and a
form post, as a browser does them, over one kept-alive connection."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from harness import HERE, Server

Factory = Callable[..., Server]
pytest.importorskip("django")


class Browser:
    """urllib3 with a cookie jar of one site: what the admin needs."""

    def __init__(self, base: str) -> None:
        import urllib3

        self.base = base
        self.http = urllib3.PoolManager(retries=False)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> object:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.base + path
        response = self.http.request(method, self.base + path, body=body, headers=headers, redirect=False)
        for value in response.headers.getlist("Set-Cookie"):
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response


def _prepare_database(tmp_path: Path) -> dict[str, str]:
    env = {"DJANGO_SETTINGS_MODULE": "djangoproject.settings", "DJANGO_TEST_DB": str(tmp_path / "db.sqlite3")}
    setup = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from django.contrib.auth.models import User;"
        "User.objects.create_superuser('admin', 'a@example.com', 'pass-word-1')"
    )
    subprocess.run(
        [sys.executable, "-c", setup], check=True, cwd=tmp_path, timeout=120,
        env={**_base_env(), **env, "PYTHONPATH": str(HERE)},
    )  # fmt: skip
    return env


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}


@pytest.mark.parametrize(
    "kind", [["sync"], ["gthread", "--threads", "4"], ["asgi"]], ids=["sync", "gthread", "asgi"]
)
def test_django_admin_login_and_a_form_post(server_factory: Factory, tmp_path: Path, kind: list[str]) -> None:
    env = _prepare_database(tmp_path)
    app = "djangoproject.asgi:application" if kind == ["asgi"] else "djangoproject.wsgi:application"
    server = server_factory(["--workers", "2", "--worker-class", *kind], app=app, tcp=True, env=env)
    browser = Browser(f"http://{server.address}")
    page = browser.request("GET", "/admin/login/?next=/admin/")
    assert page.status == 200  # type: ignore[attr-defined]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.data)  # type: ignore[attr-defined]
    assert token is not None and "csrftoken" in browser.cookies
    form = {"csrfmiddlewaretoken": token[1].decode(), "username": "admin", "password": "pass-word-1"}
    login = browser.request("POST", "/admin/login/?next=/admin/", form)
    assert login.status == 302, login.data[:500]  # type: ignore[attr-defined]
    assert login.headers["Location"] == "/admin/"  # type: ignore[attr-defined]
    assert "sessionid" in browser.cookies
    home = browser.request("GET", "/admin/")
    assert home.status == 200 and b"Site administration" in home.data  # type: ignore[attr-defined]

    # Without the token the same post is refused by Django's CSRF check, not by the server.
    assert browser.request("POST", "/note/", {"text": "x"}).status == 403  # type: ignore[attr-defined]
    token_page = browser.request("GET", "/note/")
    note_token = token_page.data.decode().split("=", 1)[1]  # type: ignore[attr-defined]
    saved = browser.request("POST", "/note/", {"text": "héllo wörld", "csrfmiddlewaretoken": note_token})
    assert saved.data.decode() == "saved héllo wörld"  # type: ignore[attr-defined]
