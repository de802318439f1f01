"""The pages (exam, dashboard), the site icon and the static assets."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.protocol.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
PAGES = {"/": "exam.html", "/exam.html": "exam.html", "/dashboard.html": "dashboard.html",
         "/exams.html": "exams.html", "/review.html": "review.html"}
#: browsers ask for /favicon.ico whatever the page says; the answer is the SVG icon
FAVICON = "favicon.svg"


async def page(request: web.Request) -> web.StreamResponse:
    path = STATIC_DIR / PAGES[request.path]
    if not path.is_file():
        raise ApiError(404, "page not found", code="not_found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def favicon(request: web.Request) -> web.StreamResponse:
    path = STATIC_DIR / FAVICON
    if not path.is_file():
        raise ApiError(404, "icon not found")
    return web.FileResponse(path, headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"})


#: each page, and the static assets; registered like the other route modules' tables
routes: list[web.AbstractRouteDef] = [
    *(web.get(path, page) for path in PAGES),
    web.get("/favicon.ico", favicon),
    web.static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False),
]
