"""A real HTTP server on loopback for tests: routes, counted requests, failures on demand.

``LoopbackServer`` is what ``LocalIssuer`` publishes its keys with; tests also use it alone to
make a JWKS or discovery endpoint fail, stall, redirect or trickle its bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import ssl

    from typing_extensions import Self  # typing.Self from Python 3.11

#: A response a test can make the loopback server give: (status, headers, body).
Response = tuple[int, Mapping[str, str], bytes]


class HandWrittenResponse(Protocol):
    """A response that writes its own status line, headers and body, to stall, trickle or break off."""

    def write_to(self, wfile: io.BufferedIOBase) -> None:
        """Send the response on ``wfile`` (the connection's output stream)."""


Answer = Response | HandWrittenResponse


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 in a background thread that counts the requests it gets.

    ``routes`` maps paths to responses (or callables returning one); ``override``, when set,
    answers every request instead, so tests can make the server fail, stall or redirect. A
    ``HandWrittenResponse`` writes the bytes itself. ``port`` picks the port (default: any free one);
    ``ssl_context`` (a server-side ``ssl.SSLContext``) serves HTTPS instead of HTTP.
    """

    def __init__(self, *, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Answer | Callable[[], Answer]] = {}
        #: Routes that read the request's headers (``/userinfo`` reads ``Authorization``).
        self.header_routes: dict[str, Callable[[Mapping[str, str]], Answer]] = {}
        self.override: Callable[[str], Answer | None] | None = None
        self.requests: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.requests.append(self.path)
                response = server.override(self.path) if server.override else None
                header_route = server.header_routes.get(self.path.split("?")[0])
                if response is None and header_route is not None:
                    response = header_route(dict(self.headers.items()))
                if response is None:
                    route = server.routes.get(self.path.split("?")[0])
                    response = route() if callable(route) else route
                if response is None:
                    response = (404, {"Content-Type": "text/plain"}, b"not found")
                if not isinstance(response, tuple):
                    # The client may hang up first: a test's hand-written response breaks off on purpose.
                    with contextlib.suppress(OSError):
                        response.write_to(self.wfile)
                    return
                status, headers, body = response
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.tls = ssl_context is not None
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def hits(self, path: str | None = None) -> int:
        """Return how many requests arrived (for ``path`` only, if given)."""
        with self._lock:
            return sum(1 for p in self.requests if path is None or p.split("?")[0] == path)

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="auth0-drf-loopback", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def json_response(data: Any, status: int = 200, *, headers: Mapping[str, str] | None = None, **more: str) -> Response:
    """Return a JSON response for ``LoopbackServer``, with ``headers`` (or header keyword arguments) added."""
    return status, {"Content-Type": "application/json", **(headers or {}), **more}, json.dumps(data).encode()
