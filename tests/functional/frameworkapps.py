"""Real ASGI frameworks for the ASGI worker's tests: FastAPI, Starlette and Quart, each with what its users
lean on (JSON, dependencies, background tasks, streaming, uploads, WebSockets, lifespan state)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


def _event(text: str) -> None:
    path = os.environ.get("ASGIAPP_EVENTS")
    if path:
        with open(path, "a") as file:
            file.write(text + "\n")


# -- FastAPI ------------------------------------------------------------------------------------------

from fastapi import BackgroundTasks, Depends, FastAPI, File, Request, UploadFile, WebSocket  # noqa: E402
from fastapi.responses import StreamingResponse  # noqa: E402
from pydantic import BaseModel  # noqa: E402


@asynccontextmanager
async def _fastapi_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    _event("fastapi startup")
    yield {"greeting": "hello from lifespan"}
    _event("fastapi shutdown")


fastapi_app = FastAPI(lifespan=_fastapi_lifespan)


class Item(BaseModel):
    name: str
    price: float


def _pagination(offset: int = 0, limit: int = 10) -> dict[str, int]:
    return {"offset": offset, "limit": limit}


@fastapi_app.get("/")
async def fastapi_root(request: Request) -> dict[str, Any]:
    return {"message": request.state.greeting, "root_path": request.scope.get("root_path")}


@fastapi_app.get("/items")
async def fastapi_items(page: dict[str, int] = Depends(_pagination)) -> dict[str, Any]:  # noqa: B008
    return {"page": page}


@fastapi_app.post("/items")
async def fastapi_create(item: Item, tasks: BackgroundTasks) -> dict[str, Any]:
    tasks.add_task(_event, f"created {item.name}")
    return {"created": item.name, "price": item.price}


@fastapi_app.get("/stream")
async def fastapi_stream() -> StreamingResponse:
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(5):
            await asyncio.sleep(0.01)
            yield b"chunk%d\n" % i

    return StreamingResponse(pieces(), media_type="text/plain")


@fastapi_app.post("/upload")
async def fastapi_upload(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
    data = await file.read()
    return {"filename": file.filename, "size": len(data)}


@fastapi_app.get("/sync")
def fastapi_sync() -> dict[str, str]:
    return {"ran": "in a thread"}


@fastapi_app.websocket("/ws")
async def fastapi_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        data = await websocket.receive_json()
        await websocket.send_json({"echo": data})


# -- Starlette ----------------------------------------------------------------------------------------

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request as StarletteRequest  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse  # noqa: E402
from starlette.routing import Mount, Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket as StarletteWebSocket  # noqa: E402


async def _hello(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.path_params.get('name', 'world')}")


async def _url(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"url": str(request.url), "for": str(request.url_for("hello", name="x"))})


async def _form(request: StarletteRequest) -> JSONResponse:
    form = await request.form()
    return JSONResponse({key: str(value) for key, value in form.items()})


async def _starlette_ws(websocket: StarletteWebSocket) -> None:
    await websocket.accept(subprotocol="chat")
    text = await websocket.receive_text()
    await websocket.send_text(text.upper())
    await websocket.close(code=4000)


starlette_app = Starlette(
    routes=[
        Route("/", _hello),
        Mount("/sub", routes=[Route("/hello/{name}", _hello, name="hello"), Route("/url", _url)]),
        Route("/form", _form, methods=["POST"]),
        WebSocketRoute("/ws", _starlette_ws),
    ]
)


# -- Quart --------------------------------------------------------------------------------------------

from quart import Quart, websocket  # noqa: E402
from quart import request as quart_request  # noqa: E402

quart_app = Quart(__name__)


@quart_app.before_serving
async def _quart_startup() -> None:
    _event("quart startup")


@quart_app.route("/", methods=["GET", "POST"])
async def quart_index() -> Any:
    if quart_request.method == "POST":
        data = await quart_request.get_json()
        return {"got": data}
    return {"framework": "quart"}


@quart_app.websocket("/ws")
async def quart_ws() -> None:
    while True:
        message = await websocket.receive()
        await websocket.send(f"quart:{message}")
