"""A real webhook receiver on 127.0.0.1 for the monitoring-loop tests.

``Receiver.answers`` is the list of HTTP statuses to answer, in order (then 200);
an answer of ``"hang"`` holds the request until the test ends (a receiver that never
answers), and ``on_post`` runs before answering (e.g. to kill the sender)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.keys: list[str | None] = []
        self.answers: list[int | str] = []
        self.on_post: Callable[[int], None] | None = None
        self.release = threading.Event()
        self.url = ""
        self._cond = threading.Condition()

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.posts) >= count, timeout):
                raise AssertionError(f"{len(self.posts)} posts arrived, expected {count}")


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec._cond:
                rec.posts.append(json.loads(body))
                rec.keys.append(self.headers.get("Idempotency-Key"))
                n = len(rec.posts)
                rec._cond.notify_all()
            if rec.on_post is not None:
                rec.on_post(n)
            answer = rec.answers[n - 1] if n <= len(rec.answers) else 200
            if answer == "hang":
                rec.release.wait(60)
                return
            self.send_response(int(answer))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()
