"""A small Flask application for the functional tests: routing, JSON, form posts, streaming."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "flask says hello"


@app.get("/log")
def log() -> str:
    # Flask's default handler writes to wsgi.errors while a request is served
    app.logger.error("flask logged %s", request.args.get("marker", ""))
    return "logged"


@app.post("/json")
def echo_json() -> Response:
    payload = request.get_json(force=True)
    return jsonify(received=payload, method=request.method, path=request.path)


@app.post("/form")
def form() -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(request.form.items()))


@app.get("/stream")
def stream() -> Response:
    def generate() -> Iterator[str]:
        for i in range(3):
            yield f"line {i}\n"

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.get("/missing-here")
def missing() -> tuple[str, int]:
    return "nope", 404
