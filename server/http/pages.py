"""The pages (exam, dashboard) and their static assets."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.protocol.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
PAGES = {"/": "exam.html", "/exam.html": "exam.html", "/dashboard.html": "dashboard.html",
         "/exams.html": "exams.html", "/review.html": "review.html"}


async def page(request: web.Request) -> web.StreamResponse:
    path = STATIC_DIR / PAGES[request.path]
    if not path.is_file():
        raise ApiError(404, "page not found", code="not_found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


#: each page, and the static assets; registered like the other route modules' tables
routes: list[web.AbstractRouteDef] = [
    *(web.get(path, page) for path in PAGES),
    web.static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False),
]
