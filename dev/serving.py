"""An ASGI app on a real loopback socket, in a thread, for benches and tests (never the runtime).

Why one helper: the receiver's bench and its tests both need "serve this app on a free port until
the block ends", and a copy without a start-up deadline hangs forever when the server fails to start.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

__all__ = ["serving"]


@contextlib.contextmanager
def serving(app: FastAPI, start_timeout: float = 15.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port>; yields its base URL, stops at the block's end."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the app did not start within {start_timeout:.0f} s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
