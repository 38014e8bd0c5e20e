"""Run the demo app: in a background thread for tests and the demo, or in the foreground for people.

Why bind the socket ourselves: we bind 127.0.0.1 port 0 and hand the socket to uvicorn, so the OS
picks a free port and there is no window in which another test could take it. ``running_app``
waits until uvicorn accepts connections and, on exit, stops it and joins the thread: no leftovers.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from forewarn.musobuddy.app import create_app
from forewarn.musobuddy.config import MusoBuddyConfig, load_config

STARTUP_TIMEOUT_SECONDS = 20.0


@dataclass
class RunningApp:
    """A started server: its URL and the app (tests reach ``app.state.musobuddy`` through it)."""

    base_url: str
    app: FastAPI


@contextmanager
def serve_in_thread(
    config: MusoBuddyConfig | None = None,
    *,
    log_path: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[RunningApp]:
    """Start the app with uvicorn in a daemon thread; yields once it accepts connections.

    ``tls`` (certificate, key): serve HTTPS, as a real target's admin API would be.
    """
    config = config or load_config()
    if log_path is not None:
        config = config.model_copy(update={"log_file": log_path})
    app = create_app(config, clock, wall_clock=wall_clock)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"musobuddy-{bound_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if errors or not thread.is_alive():
                raise RuntimeError(
                    f"musobuddy server failed to start: {errors[0] if errors else 'thread exited'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"musobuddy server did not start within {STARTUP_TIMEOUT_SECONDS} s")
            time.sleep(0.02)
        scheme = "https" if tls else "http"
        yield RunningApp(base_url=f"{scheme}://{host}:{bound_port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        app.state.musobuddy.log.close()
        if thread.is_alive():
            raise RuntimeError("musobuddy server thread did not stop within 15 s")


@contextmanager
def running_app(
    config: MusoBuddyConfig | None = None,
    *,
    log_path: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> Iterator[str]:
    """Run the app on a free 127.0.0.1 port for the duration of the block; yields its base URL.

    Pass ``clock`` to drive the simulated time from a test (e.g. ten minutes of a flapping fault in
    a second); ``wall_clock`` is what admin signatures are checked against.
    """
    with serve_in_thread(config, log_path=log_path, clock=clock, wall_clock=wall_clock) as running:
        yield running.base_url


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    config_path: Path | None = None,
    log_file: Path | None = None,
    log_stdout: bool | None = None,
) -> None:
    """Run in the foreground until Ctrl-C / SIGTERM (uvicorn handles both and shuts down cleanly)."""
    config = load_config(config_path)
    updates: dict[str, object] = {}
    if log_file is not None:
        updates["log_file"] = log_file
    if log_stdout is not None:
        updates["log_stdout"] = log_stdout
    if updates:
        config = config.model_copy(update=updates)
    app = create_app(config)
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    print(
        f"musobuddy demo service on http://{bound_host}:{bound_port} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the Ctrl-C it captured: that is a clean stop.
        pass
    finally:
        sock.close()
        app.state.musobuddy.log.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forewarn.musobuddy.server",
        description="Run the MusoBuddy demo service (health endpoints, fault injection, signed admin API).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    parser.add_argument(
        "--port", type=int, default=8080, help="Port to bind (default 8080; 0 = any free port)."
    )
    parser.add_argument("--config", type=Path, default=None, help="YAML config file (or MUSOBUDDY_CONFIG).")
    parser.add_argument("--log-file", type=Path, default=None, help="Append JSON log lines to this file.")
    parser.add_argument(
        "--log-stdout", action="store_true", default=None, help="Also print JSON logs to stdout."
    )
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.config, args.log_file, args.log_stdout)
    except (FileNotFoundError, ValueError) as exc:
        print(f"musobuddy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
