"""Local HTTP servers that log every request's headers: a GitHub stand-in (its API's
repository listing and commit statuses, and git over smart HTTP through ``git http-backend``)
and, with nothing to serve, a student's own server."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A logging server on ``host`` (any free port). As ``github``: the API's repository
    listing (or, with ``redirect``, a redirect there) and commit statuses, and ``git_root``'s
    ``<org>/<repo>.git`` over smart HTTP; otherwise every request is answered 404. A request
    whose path holds ``stall`` is answered ``stall_s`` seconds late."""

    host: str = "127.0.0.1"
    github: bool = True
    git_root: Path | None = None
    redirect: str = ""
    stall: str = ""
    stall_s: float = 0.0
    requests: list[Request] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)

    def __enter__(self) -> Server:
        self._http = ThreadingHTTPServer((self.host, 0), _handler(self))
        self.url = f"http://{self.host}:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_):
        self._http.shutdown()
        self._http.server_close()

    def repositories(self, org: str) -> list[dict]:
        if self.git_root is None:
            return []
        return [{"name": p.name.removesuffix(".git")} for p in (self.git_root / org).glob("*.git")]

    def git(self, request: Request, handler: BaseHTTPRequestHandler) -> None:
        """Answer through ``git http-backend`` (CGI), as a git host does."""
        path, _, query = request.path.partition("?")
        env = {
            "GIT_PROJECT_ROOT": str(self.git_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(request.body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=request.body, env=env, capture_output=True, timeout=60
        ).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = next((int(line.split()[1]) for line in lines if line.startswith("Status:")), 200)
        handler.send_response(status)
        for line in lines:
            name, _, value = line.partition(": ")
            if name.lower() != "status":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while size := int(self.rfile.readline().strip(), 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return body
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, status: int, data=None, location: str = "") -> None:
            body = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            request = Request(self.command, self.path, dict(self.headers.items()), self._body())
            server.requests.append(request)
            if server.stall and server.stall in self.path:
                time.sleep(server.stall_s)
            listing = server.github and re.fullmatch(r"/orgs/([^/]+)/repos\?.*", self.path)
            if listing and server.redirect:
                self._answer(302, location=server.redirect + self.path)
            elif listing:
                self._answer(200, server.repositories(listing[1]))
            elif server.github and re.fullmatch(
                r"/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}", self.path
            ):
                server.statuses.append({"path": self.path, **json.loads(request.body)})
                self._answer(201, {})
            elif server.github and server.git_root is not None and ".git/" in self.path:
                server.git(request, self)
            else:
                self._answer(404)

        do_GET = do_POST = do_PUT = _serve

    return Handler
