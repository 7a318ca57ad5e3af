"""Real frameworks under the ASGI worker, driven by real clients: FastAPI, Starlette and Quart (Django's ASGI
handler is in test_django.py). What their users rely on: JSON, dependencies, background tasks, streaming,
uploads, sync endpoints in threads, lifespan state, root_path and url_for, WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3
from harness import Server, wait_for

pytest.importorskip("fastapi")
pytest.importorskip("quart")
import websockets  # noqa: E402

Factory = Callable[..., Server]


def start(factory: Factory, app: str, events: Path, args: list[str] | None = None) -> Server:
    return factory(
        ["--workers", "1", "--keep-alive", "5", *(args or [])],
        app=f"frameworkapps:{app}",
        worker_class="asgi",
        tcp=True,
        env={"ASGIAPP_EVENTS": str(events)},
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def events(tmp_path: Path) -> Path:
    return tmp_path / "events.txt"


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=10)


def test_fastapi(server_factory: Factory, events: Path, http: urllib3.PoolManager) -> None:
    server = start(server_factory, "fastapi_app", events)
    base = f"http://{server.address}"
    assert "fastapi startup" in lines(events)
    root = http.request("GET", base + "/")
    assert root.json() == {"message": "hello from lifespan", "root_path": ""}
    assert http.request("GET", base + "/items?offset=20&limit=5").json() == {
        "page": {"offset": 20, "limit": 5}
    }
    created = http.request("POST", base + "/items", json={"name": "chair", "price": 12.5})
    assert created.status == 200 and created.json() == {"created": "chair", "price": 12.5}
    wait_for(lambda: "created chair" in lines(events), 5, "the background task")
    invalid = http.request("POST", base + "/items", json={"name": "no price"})
    assert invalid.status == 422
    stream = http.request("GET", base + "/stream", preload_content=False)
    assert stream.headers.get("transfer-encoding") == "chunked"
    assert b"".join(stream.stream(16)) == b"".join(b"chunk%d\n" % i for i in range(5))
    upload = http.request("POST", base + "/upload", fields={"file": ("data.bin", b"\x00" * 200_000)})
    assert upload.json() == {"filename": "data.bin", "size": 200_000}
    assert http.request("GET", base + "/sync").json() == {"ran": "in a thread"}
    assert http.request("GET", base + "/missing").status == 404

    async def talk() -> Any:
        async with websockets.connect(f"ws://{server.address}/ws") as ws:
            await ws.send(json.dumps({"n": 1}))
            return json.loads(await ws.recv())

    assert asyncio.run(asyncio.wait_for(talk(), 10)) == {"echo": {"n": 1}}
    assert server.stop() == 0
    assert lines(events)[-1] == "fastapi shutdown"


def test_fastapi_behind_a_root_path(server_factory: Factory, events: Path, http: urllib3.PoolManager) -> None:
    server = start(server_factory, "fastapi_app", events, ["--root-path", "/api"])
    # A proxy that strips the prefix sends "/"; the app is told it lives under /api.
    assert http.request("GET", f"http://{server.address}/").json()["root_path"] == "/api"


def test_starlette(server_factory: Factory, events: Path, http: urllib3.PoolManager) -> None:
    server = start(server_factory, "starlette_app", events, ["--root-path", "/app"])
    base = f"http://{server.address}"
    assert http.request("GET", base + "/").data == b"hello world"
    assert http.request("GET", base + "/sub/hello/unicorn").data == b"hello unicorn"
    urls = http.request("GET", base + "/sub/url", headers={"Host": "example.org"}).json()
    assert urls == {"url": "http://example.org/app/sub/url", "for": "http://example.org/app/sub/hello/x"}
    form = http.request_encode_body(
        "POST", base + "/form", fields={"a": "1", "b": "é"}, encode_multipart=False
    )
    assert form.json() == {"a": "1", "b": "é"}

    async def talk() -> tuple[str, str | None, int | None]:
        async with websockets.connect(f"ws://{server.address}/ws", subprotocols=["chat"]) as ws:
            await ws.send("shout")
            answer = await ws.recv()
            await ws.wait_closed()
            return str(answer), ws.subprotocol, ws.close_code

    assert asyncio.run(asyncio.wait_for(talk(), 10)) == ("SHOUT", "chat", 4000)


def test_quart(server_factory: Factory, events: Path, http: urllib3.PoolManager) -> None:
    server = start(server_factory, "quart_app", events)
    base = f"http://{server.address}"
    assert "quart startup" in lines(events)
    assert http.request("GET", base + "/").json() == {"framework": "quart"}
    assert http.request("POST", base + "/", json=[1, 2]).json() == {"got": [1, 2]}

    async def talk() -> str:
        async with websockets.connect(f"ws://{server.address}/ws") as ws:
            await ws.send("ping")
            return str(await ws.recv())

    assert asyncio.run(asyncio.wait_for(talk(), 10)) == "quart:ping"
