"""API versions: every `/api/...` route also answers under `/api/v1/...`, the same handler.

The versioned path is the documented one (`server/http/openapi.py`); the unversioned paths stay as
aliases for the clients and pages written before versions existed. A later `/api/v2` adds its own
routes beside these; v1 keeps answering.
"""
from __future__ import annotations

from aiohttp import web

API_PREFIX = "/api/"
V1_PREFIX = "/api/v1/"


def versioned(path: str) -> str:
    """The v1 path of an `/api/` route; any other path (probes, pages, the original APIs) as it is."""
    if path.startswith(API_PREFIX) and not path.startswith(V1_PREFIX):
        return V1_PREFIX + path[len(API_PREFIX):]
    return path


def unversioned(path: str) -> str:
    """The alias a v1 path answers for (`/api/v1/x` -> `/api/x`); other paths as they are."""
    return API_PREFIX + path[len(V1_PREFIX):] if path.startswith(V1_PREFIX) else path


def add_v1_routes(app: web.Application) -> None:
    """Serve every `/api/` route added so far under `/api/v1/` too (HEAD comes with GET)."""
    for route in list(app.router.routes()):
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path is None or route.method == "HEAD" or versioned(path) == path:
            continue
        if route.method == "GET":
            app.router.add_get(versioned(path), route.handler)
        else:
            app.router.add_route(route.method, versioned(path), route.handler)
