"""A local threaded HTTP server for spider tests: saved pages by path plus programmable routes.

Every request is recorded (time, path, headers, status, bytes sent) so tests can assert on what
a spider asked for and when — conditional GETs, delays after Retry-After, caps on traps.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PAGES = Path(__file__).parent / "pages"

_CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/json",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    time: float  # time.monotonic() when it arrived
    method: str
    path: str  # with the query string
    headers: Mapping[str, str]
    status: int = 0
    bytes_sent: int = 0

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


@dataclass
class Reply:
    """What a route answers. ``conditional`` makes the server answer 304 to a matching
    If-None-Match / If-Modified-Since, as a well-behaved feed server does."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    conditional: bool = False

    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


Handler = Callable[[Received], Reply]


class TestServer:
    """Serves files from ``pages`` by path and routes set by the test; see ``route``."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, pages: Path = PAGES) -> None:
        self.pages = pages
        self.routes: dict[str, Handler] = {}
        self.prefix_routes: list[tuple[str, Handler]] = []
        self.file_headers: dict[str, dict[str, str]] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + (path if path.startswith("/") else "/" + path)

    def route(self, path: str, reply: Reply | Handler | None = None, /, **kw: object) -> None:
        """Answer ``path`` (exact, with or without its query string) with a fixed Reply, a
        function of the request, or a Reply built from keyword arguments."""
        self.routes[path] = _as_handler(reply, kw)

    def route_prefix(
        self, prefix: str, reply: Reply | Handler | None = None, /, **kw: object
    ) -> None:
        """Answer every path starting with ``prefix`` (endless pagination, calendar traps)."""
        self.prefix_routes.append((prefix, _as_handler(reply, kw)))

    def serve_file(self, path: str, *, headers: dict[str, str]) -> None:
        """Send extra or replacing headers (say a lying charset) with the saved page at ``path``."""
        self.file_headers[path] = headers

    def start(self) -> TestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- records --------------------------------------------------------------------------------
    def received(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def bytes_sent(self) -> int:
        with self._lock:
            return sum(r.bytes_sent for r in self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- serving --------------------------------------------------------------------------------
    def _reply_for(self, req: Received) -> Reply:
        path_only = urlsplit(req.path).path
        handler = self.routes.get(req.path) or self.routes.get(path_only)
        if handler is None:
            for prefix, candidate in self.prefix_routes:
                if req.path.startswith(prefix):
                    handler = candidate
                    break
        if handler is not None:
            return handler(req)
        return self._file_reply(path_only)

    def _file_reply(self, path: str) -> Reply:
        file = (self.pages / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.pages.resolve()) or not file.is_file():
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        ctype = (
            _CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "text/plain"
        )
        headers = {"Content-Type": ctype, **self.file_headers.get(path, {})}
        return Reply(200, file.read_bytes(), headers, conditional=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, *, send_body: bool) -> None:
                req = Received(time.monotonic(), self.command, self.path, dict(self.headers))
                reply = server._reply_for(req)
                if reply.delay:
                    time.sleep(reply.delay)
                status, body, headers = reply.status, reply.body_bytes(), dict(reply.headers)
                if reply.conditional and status == 200:
                    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                    headers.setdefault("ETag", etag)
                    if self.headers.get("If-None-Match") == headers["ETag"] or (
                        "Last-Modified" in headers
                        and self.headers.get("If-Modified-Since") == headers["Last-Modified"]
                    ):
                        status, body = 304, b""
                sent = body if send_body and status not in (204, 304) else b""
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if status not in (204, 304):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if sent:
                        self.wfile.write(sent)
                except (BrokenPipeError, ConnectionResetError):
                    sent = b""  # the client gave up (a timeout or a size cap): record no bytes
                with server._lock:
                    server.requests.append(
                        Received(req.time, req.method, req.path, req.headers, status, len(sent))
                    )

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the record of requests is what tests look at."""

        return _Handler


def _as_handler(reply: Reply | Handler | None, kw: Mapping[str, object]) -> Handler:
    if reply is None:
        reply = Reply(**kw)  # type: ignore[arg-type]  # keyword arguments are Reply's fields
    if isinstance(reply, Reply):
        fixed = reply
        return lambda _req: fixed
    return reply
