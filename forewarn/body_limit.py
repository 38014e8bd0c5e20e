"""An ASGI middleware that refuses request bodies over a byte limit with 413, before anything parses them.

Why at the ASGI layer: a route (or FastAPI's own body parsing) only sees the body once it has been read
whole into memory, so a limit checked there still lets a caller make the process buffer megabytes.
Here a declared ``Content-Length`` over the limit is answered at once, without reading a byte, and a
streamed (chunked) body is counted as it arrives: the read that crosses the limit raises a 413
``HTTPException``, which the app's error handler turns into the usual JSON reply.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "too_large"]


def too_large(limit: int) -> str:
    """The 413 message: says the limit so a client knows what to send instead."""
    return f"request body over {limit} bytes (the limit); send less"


class BodyLimit:
    """Wrap ``app`` so every HTTP request body larger than ``max_bytes`` gets 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _reply_413(send, self.max_bytes)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large(self.max_bytes))
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # a malformed header: the server refuses it, or the count below catches it
    return None


async def _reply_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large(limit)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread body must not be taken for the next request
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
