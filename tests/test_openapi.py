"""The published OpenAPI description covers every route and matches the request models."""
from __future__ import annotations

import aiohttp

from server.http.openapi import ROUTES, app_routes


async def test_every_route_is_documented(vigil_server) -> None:
    routes = set(app_routes(vigil_server.app))
    missing = sorted(r for r in routes if r not in ROUTES)
    assert not missing, f"document these routes in server/http/openapi.py ROUTES: {missing}"
    stale = sorted(r for r in ROUTES if r not in routes)
    assert not stale, f"documented but not served: {stale}"


async def test_openapi_json_and_docs_page(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(vigil_server.url + "/api/openapi.json") as resp:
            assert resp.status == 200
            spec = await resp.json()
        async with http.get(vigil_server.url + "/api/docs") as resp:
            assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
            page = await resp.text()
    assert spec["openapi"].startswith("3.1")
    create = spec["paths"]["/api/sessions"]["post"]
    schema = spec["components"]["schemas"]["CreateSession"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CreateSession")
    assert "candidate_id" in schema["required"] and schema["additionalProperties"] is False
    assert "/api/sessions/{session_id}/offer" in spec["paths"] and "/api/sessions/{session_id}/offer" in page
