"""Cross-site request checks. Vigil sends no CORS headers, so other sites' scripts cannot read its
answers; and a state-changing request that rides on the account cookie must come from Vigil's own
pages (same origin), so other sites cannot make a logged-in proctor's browser act (CSRF). The
SameSite=Strict cookie already stops this in current browsers; this check does not rely on it."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from server.protocol.errors import ApiError

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def origin_middleware(cookie_name: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.method not in SAFE_METHODS and request.cookies.get(cookie_name):
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != request.host:
                raise ApiError(403, "cross-site request refused", {"origin": origin[:200]})
        return await handler(request)

    return check
