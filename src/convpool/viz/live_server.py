"""The live view's HTTP server: the standard library's ThreadingHTTPServer bound to
127.0.0.1, answering only requests addressed to 127.0.0.1 or localhost (a page on another
name is a web page trying to read the run: DNS rebinding). At most max_connections at once,
one thread each (more are answered 503 and closed), idle ones closed after idle_seconds, a
listen backlog of LISTEN_BACKLOG. The page itself is package data (live.html)."""

from __future__ import annotations

import html
import json
import math
import threading
import time
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_CONNECTIONS = 16  # a page needs a few at once (state and pictures); each is one thread
IDLE_SECONDS = 10.0  # a connection that sends nothing for this long is closed
LISTEN_BACKLOG = 128  # connections waiting to be accepted (the standard library's default is 5)


class LiveServer(ThreadingHTTPServer):
    """One thread per connection, at most max_connections of them; the rest get a 503."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    view: Any  # the LiveView it serves

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int, idle_seconds: float) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"live view: max_connections must be a positive int, got {max_connections!r}")
        if not idle_seconds > 0:
            raise ValueError(f"live view: idle_seconds must be positive, got {idle_seconds!r}")
        self.idle_seconds = float(idle_seconds)
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:  # too many at once: say so without reading the request, and close
                request.settimeout(0.5)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class LiveHandler(BaseHTTPRequestHandler):
    server: LiveServer

    def setup(self) -> None:
        self.timeout = self.server.idle_seconds  # the socket's timeout: an idle connection is closed
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        view = self.server.view
        view._last_request = time.monotonic()
        host = (self.headers.get("Host") or "").lower()
        if host not in (f"127.0.0.1:{view.port}", f"localhost:{view.port}"):
            # another name for this address is a web page trying to read the run (DNS rebinding)
            return self._send(HTTPStatus.FORBIDDEN, b"forbidden: ask 127.0.0.1\n", "text/plain; charset=utf-8")
        parts = urlsplit(self.path)
        if parts.path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, page(view).encode("utf-8"), "text/html; charset=utf-8")
        if parts.path == "/state.json":
            try:
                first = max(0, int(parse_qs(parts.query).get("since", ["0"])[0]))
            except ValueError:
                first = 0
            status = view.status
            body = json.dumps(_finite(view.state(first)), separators=(",", ":")).encode("utf-8")
            view._last_poll = time.monotonic()
            self._send(HTTPStatus.OK, body, "application/json")
            if status != "training":
                view._final_served.set()
            return None
        pieces = parts.path.strip("/").split("/")
        if len(pieces) == 3 and pieces[0] == "image" and pieces[2].endswith(".png"):
            try:
                version, index = int(pieces[1]), int(pieces[2][:-4])
            except ValueError:
                version, index = -1, -1
            snapshots = view._snapshots
            snapshot = snapshots.get(version)
            if snapshot is None and snapshots and 0 <= version < max(snapshots):
                # a page slower than the snapshots: the same picture, newer (not to be cached)
                snapshot = snapshots[max(snapshots)]
            if snapshot is not None and 0 <= index < len(snapshot.arrays):
                return self._send(HTTPStatus.OK, snapshot.png(index), "image/png", cache=snapshot.version == version)
        return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, code: HTTPStatus, body: bytes, kind: str, cache: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600, immutable" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the standard library's name)
        """Quiet: the terminal belongs to the progress bar."""


def _finite(value: Any) -> Any:
    """NaN and infinity as null: JSON has no word for them and the browser's parser refuses them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def page(view: Any) -> str:
    """The page: plain HTML and JavaScript, nothing fetched but this server's own answers."""
    return _template().replace("__TITLE__", html.escape(view.title)).replace("__POLL_MS__", str(view.poll_ms))


@cache
def _template() -> str:
    return (resources.files("convpool.viz") / "live.html").read_text(encoding="utf-8")
