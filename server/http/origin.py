"""Cross-site request checks. Vigil sends no CORS headers, so other sites' scripts cannot read its
answers; and a state-changing request that rides on the account cookie must come from Vigil's own
pages (same origin), so other sites cannot make a logged-in proctor's browser act (CSRF). The
SameSite=Strict cookie already stops this in current browsers; this check does not rely on it.

A write that rides on the cookie (and carries no bearer token, which another site's page cannot
set) needs a same-origin `Origin`, or a same-origin `Referer` when a client sends no `Origin`; with
neither it is refused. Its body, if any, must be `application/json`: a cross-site HTML form can
only send `text/plain` or form encodings, so this closes the form route even for old browsers."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from server.protocol.errors import ApiError

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def check_cookie_write(request: web.Request) -> None:
    """Raise 403/415 unless a cookie-authenticated write comes from Vigil's own pages, as JSON."""
    origin = request.headers.get("Origin")
    source = origin if origin is not None else request.headers.get("Referer")
    if source is None:
        raise ApiError(403, "cross-site request refused: a cookie-authenticated write needs an Origin "
                            "or Referer header", {"origin": None}, code="cross_site")
    if urlsplit(source).netloc != request.host:
        raise ApiError(403, "cross-site request refused", {"origin": source[:200]}, code="cross_site")
    if request.body_exists and request.content_type != "application/json":
        raise ApiError(415, "a cookie-authenticated write must send application/json",
                       {"content_type": request.content_type}, code="unsupported_media_type")


def origin_middleware(cookie_name: str, cross_site_forms: frozenset[str] = frozenset()) -> Callable[..., Awaitable[web.StreamResponse]]:
    """`cross_site_forms`: paths that take other sites' form posts by design and never act on the cookie
    (the LTI launch, authenticated by the platform's signed id_token): a proctor's cookie riding along
    (an LMS on the same site) must not get them refused."""
    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if (request.method not in SAFE_METHODS and request.cookies.get(cookie_name)
                and "Authorization" not in request.headers and request.path not in cross_site_forms):
            check_cookie_write(request)
        return await handler(request)

    return check
