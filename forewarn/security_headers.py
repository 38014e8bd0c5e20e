"""An ASGI middleware that adds the browser security headers to every HTTP reply.

Why: the APIs answer JSON, but a browser may still be pointed at them. ``nosniff`` stops a reply being
run as script or style, ``frame-ancestors 'none'`` / ``X-Frame-Options: DENY`` stop click-jacking via
frames, ``no-referrer`` keeps ids in URLs from leaking to other sites, and ``Cache-Control: no-store``
on the authenticated paths keeps keys' answers out of shared and browser caches.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "SecurityHeaders"]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Wrap ``app``: set :data:`SECURITY_HEADERS` on every reply, ``no-store`` under ``private_prefixes``."""

    def __init__(self, app: ASGIApp, private_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.private_prefixes = private_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = str(scope.get("path", "")).startswith(self.private_prefixes)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
