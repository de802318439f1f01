"""The published OpenAPI description covers every route, at its `/api/v1/` path, with answer models,
operationIds, query parameters and the security each route really has."""
from __future__ import annotations

import aiohttp

from server.http.openapi import ROUTES, auth_of
from server.http.openapi_document import app_routes
from server.http.versions import unversioned, versioned

#: JSON routes documented as an open object: the original backends' APIs keep their own shapes
#: (docs/legacy-apis.md), a saved posture analysis is whatever its client sent, and a stored
#: calibration is the calibrator's record; the LTI tool's JWKS is a JWK set (RFC 7517)
UNTYPED_JSON = {
    ("GET", "/api/calibration/download/{candidate_id}"), ("GET", "/api/calibration/session/{run_id}/diagnostics"),
    ("GET", "/api/calibration/verify/{candidate_id}"), ("POST", "/api/calibration/session/{run_id}/resume"),
    ("POST", "/api/screen/detect"), ("GET", "/lti/jwks"),
    ("POST", "/analyze-frame"), ("GET", "/api/analysis/list"), ("GET", "/api/analysis/{analysis_id}"),
    ("GET", "/api/calibration/session/{run_id}"), ("POST", "/api/calibration/session/{run_id}/link"),
    ("GET", "/api/calibration/session/{run_id}/download"), ("POST", "/api/calibration/complete"),
    ("POST", "/api/calibration/session/create"), ("POST", "/api/calibration/start"), ("POST", "/api/calibration/frame"),
    ("POST", "/api/calibration/frames"), ("POST", "/api/calibration/frames/batch"),
    ("GET", "/api/calibration/{candidate_id}"),
    ("GET", "/api/calibration/{candidate_id}/download"), ("GET", "/api/openapi.json")}


async def test_every_route_is_documented(vigil_server) -> None:
    routes = {(method, unversioned(path)) for method, path in app_routes(vigil_server.app)}
    missing = sorted(r for r in routes if r not in ROUTES)
    assert not missing, f"document these routes in server/http/openapi.py ROUTES: {missing}"
    stale = sorted(r for r in ROUTES if r not in routes)
    assert not stale, f"documented but not served: {stale}"


def test_every_json_answer_has_a_model() -> None:
    untyped = sorted(key for key, doc in ROUTES.items() if doc.content == "application/json"
                     and doc.success not in (101, 302) and doc.response is None and key not in UNTYPED_JSON)
    assert not untyped, f"give these routes a response model (RouteDoc.response): {untyped}"


async def test_openapi_json(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(vigil_server.url + "/api/v1/openapi.json") as resp:
            assert resp.status == 200
            spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    # /api/ routes at their v1 path only, the alias said in the description
    assert "/api/v1/sessions" in paths and "/api/sessions" not in paths and "/health" in paths
    create = paths["/api/v1/sessions"]["post"]
    assert "`/api/sessions`" in create["description"]
    schema = spec["components"]["schemas"]["CreateSession"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CreateSession")
    assert "candidate_id" in schema["required"] and schema["additionalProperties"] is False
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/SessionCreated")
    problem = create["responses"]["4XX"]["content"]["application/problem+json"]["schema"]["$ref"]
    assert problem.endswith("/Problem")
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    # security as the routes behave (tests/test_auth_matrix.py): open routes ask for nothing,
    # anonymous-or-authenticated routes take credentials optionally
    for path, method in [("/health", "get"), ("/livez", "get"), ("/readyz", "get"), ("/api/v1/auth/login", "post")]:
        assert paths[path][method]["security"] == [], path
    for path, method in [("/metrics", "get"), ("/api/v1/auth/register", "post"), ("/api/v1/sessions", "post")]:
        assert {} in paths[path][method]["security"], path
    assert {} not in paths["/api/v1/sessions"]["get"]["security"]
    params = {p["name"]: p for p in paths["/api/v1/sessions/{session_id}/events"]["get"]["parameters"]}
    assert {"session_id", "limit", "cursor", "kind"} <= set(params) and params["limit"]["in"] == "query"
    events = spec["components"]["schemas"]["EventPage"]
    assert set(events["required"]) == {"session_id", "events", "next"}
    # nullable means null in the type, never a key that is sometimes missing
    view = spec["components"]["schemas"]["SessionView"]
    assert "ice_servers" in view["required"] and "redis_embedded" in spec["components"]["schemas"]["Health"]["required"]
    ready = paths["/readyz"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/Readiness")
    schemas = spec["components"]["schemas"]
    # no free-form object where the data has a shape: the report's parts and an exam's policy are typed
    report = schemas["Report"]["properties"]
    for name in ("verdict", "calibration", "evidence", "review"):
        assert "$ref" in str(report[name]), (name, report[name])
    assert schemas["CalibrationSummary"]["required"] == ["status"]
    assert set(schemas["EvidenceSummary"]["required"]) == {"files", "clips", "skipped", "skipped_by_reason", "errors",
                                                            "error_messages"}
    assert "/PolicyOverrides" in str(schemas["ExamRow"]["properties"]["policy"])
    overrides = schemas["PolicyOverrides"]["properties"]
    assert overrides["retention_days"]["type"] == "number" and "/VerdictOverrides" in str(overrides["verdict"])
    assert "/ConditionOverrides" in str(overrides["conditions"])
    # RFC 9457: detail is text, structured data in typed members
    problem_props = schemas["Problem"]["properties"]
    assert problem_props["detail"]["type"] == "string" and problem_props["errors"]["type"] == "array"


def test_security_follows_who() -> None:
    assert auth_of(ROUTES[("GET", "/health")]) == "none"
    assert auth_of(ROUTES[("GET", "/metrics")]) == "optional"
    assert auth_of(ROUTES[("POST", "/api/auth/register")]) == "optional"
    assert auth_of(ROUTES[("POST", "/api/sessions")]) == "optional"
    assert auth_of(ROUTES[("GET", "/api/sessions")]) == "required"
    assert versioned("/api/sessions") == "/api/v1/sessions" and versioned("/health") == "/health"


async def test_docs_page_is_swagger_ui_served_offline(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(vigil_server.url + "/api/docs") as resp:
            assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
            page = await resp.text()
        assert "/api/docs/assets/swagger-ui-bundle.js" in page and "http" not in page.replace("http-equiv", "")
        async with http.get(vigil_server.url + "/api/docs/assets/swagger-ui-bundle.js") as resp:
            assert resp.status == 200 and len(await resp.read()) > 100_000
        async with http.get(vigil_server.url + "/static/swagger-init.js") as resp:
            assert resp.status == 200


async def test_the_document_is_built_once_per_app(vigil_server) -> None:
    """An open route: polling it must not rebuild the document (~0.2 s of schema work) each time."""
    from server.http.openapi_document import spec_of

    first = await spec_of(vigil_server.app)
    async with aiohttp.ClientSession() as http, http.get(vigil_server.url + "/api/openapi.json") as resp:
        assert resp.status == 200 and await resp.json() == first
    assert await spec_of(vigil_server.app) is first
