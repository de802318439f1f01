"""The pages (exam, dashboard) and their static assets."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.protocol.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
PAGES = {"/": "exam.html", "/exam.html": "exam.html", "/dashboard.html": "dashboard.html"}


async def page(request: web.Request) -> web.StreamResponse:
    path = STATIC_DIR / PAGES[request.path]
    if not path.is_file():
        raise ApiError(404, "page not found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def add_pages(app: web.Application) -> None:
    for route in PAGES:
        app.router.add_get(route, page)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
