"""A small Flask application for the functional tests: routing, JSON, form posts, streaming."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, send_file, stream_with_context

app = Flask(__name__)
# A file to download, in the server's working directory (the test's own folder): a pattern of 1 MiB + 1
# bytes, not a buffer size. Each worker writes it whole under another name, then renames it.
DOWNLOAD = os.path.abspath("flask-download.bin")
with tempfile.NamedTemporaryFile(dir=os.path.dirname(DOWNLOAD), delete=False) as _out:
    _out.write(bytes(range(256)) * 4096 + b"!")
os.replace(_out.name, DOWNLOAD)


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


@app.post("/upload")
def upload() -> Response:
    """A multipart upload: each file's name, size and SHA-256, as an app that stores uploads sees them."""
    files = {
        name: {"filename": f.filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, f in request.files.items()
        for data in [f.read()]
    }
    return jsonify(files=files, fields=dict(request.form))


@app.get("/download")
def download() -> Response:
    """send_file: Flask hands the file to wsgi.file_wrapper (sendfile underneath)."""
    return send_file(DOWNLOAD, mimetype="application/octet-stream", as_attachment=True)


@app.get("/missing-here")
def missing() -> tuple[str, int]:
    return "nope", 404
