"""Fixtures of the console tests: the installs tests' lab site (provisioning listener, lab BMCs and switch,
emulated machines) and a small HTTP server standing in for a customer's web server."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.installs.lab_site import lab_site, provisioning_server  # noqa: F401 - fixtures

# Not 127.0.0.1: the lab's BMCs listen there, and the platform never fetches from a BMC's address.
CUSTOMER_WEB_ADDRESS = "127.0.0.2"


class CustomerWeb:
    """Serves `pages` (path → bytes) on loopback and records every path asked for."""

    def __init__(self, sock: Any = None) -> None:
        self.pages: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}  # path → Location (a 302)
        self.hits: list[str] = []
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                web.hits.append(self.path)
                if self.path in web.redirects:
                    self.send_response(302)
                    self.send_header("Location", web.redirects[self.path])
                    self.end_headers()
                    return
                body = web.pages.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        if sock is None:
            self.httpd = ThreadingHTTPServer((CUSTOMER_WEB_ADDRESS, 0), Handler)
        else:  # a socket made elsewhere (inside a test's network namespace, tests/installs/netns.py)
            self.httpd = ThreadingHTTPServer(sock.getsockname()[:2], Handler, bind_and_activate=False)
            self.httpd.socket.close()
            self.httpd.socket = sock
            self.httpd.server_address = sock.getsockname()[:2]
            sock.listen(16)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def customer_web(settings) -> Iterator[CustomerWeb]:
    # Loopback is refused unless the operator allows it, as an internal mirror would be allowed.
    settings.CUSTOM_IPXE_ALLOWED_NETWORKS = [f"{CUSTOMER_WEB_ADDRESS}/32"]
    web = CustomerWeb()
    try:
        yield web
    finally:
        web.stop()
