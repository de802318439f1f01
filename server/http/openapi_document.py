"""The OpenAPI 3.1 document, built from the live route table and the rows of `server.http.openapi.ROUTES`,
and served at `/api/openapi.json`: every route at its `/api/v1/...` path (the unversioned alias said in
its description), with its security, body and answer schemas (from the rows' pydantic models and
dataclasses), parameters and the RFC 9457 problem every error answers with. Built once per app, off the
event loop (`spec_of`).
"""
from __future__ import annotations

import asyncio
import importlib
from dataclasses import is_dataclass
from typing import Any, get_args, get_type_hints
from weakref import WeakKeyDictionary

from aiohttp import web
from pydantic import TypeAdapter

from server.http.errors import PROBLEM_JSON, json_response
from server.http.openapi import ROUTES, Auth, RouteDoc, auth_of
from server.http.versions import unversioned, versioned
from server.protocol.errors import ERROR_CODES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "description": "An RFC 9457 problem; `code` is stable, `error` is this occurrence's message.",
    "required": ["type", "title", "status", "code", "error", "detail", "errors", "context"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "code": {"type": "string", "enum": sorted(ERROR_CODES)}, "error": {"type": "string"},
                   "detail": {"type": "string", "description": "this occurrence, in words (the message and what "
                                                               "is known of it)"},
                   "errors": {"type": "array", "description": "the request body's fields that failed validation "
                                                              "(`invalid_body`); empty otherwise",
                              "items": {"type": "object", "required": ["field", "problem"],
                                        "properties": {"field": {"type": "string"}, "problem": {"type": "string"}}}},
                   "context": {"type": "object", "description": "the occurrence's data: limits (`max_bytes`, "
                                                                "`retry_after_s`), ids, `problems`, `hint`; "
                                                                "empty when there is none"}}}
SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    "none": [], "optional": [{}, {"bearer": []}, {"cookie": []}], "required": [{"bearer": []}, {"cookie": []}]}
#: schemas of answers that are not JSON
NON_JSON: dict[str, dict[str, Any]] = {"text/plain": {"type": "string"}, "text/html": {"type": "string"},
                                       "text/event-stream": {"type": "string"}, "application/sdp": {"type": "string"}}


def served_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every route, HEAD and static files left out."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None:
            continue
        out.append((route.method, path, route.handler))
    return out


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route as served, the `/api/v1/` paths and their aliases both."""
    return [(method, path) for method, path, _ in served_routes(app)]


def _schema(ref: str, components: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` to the model or dataclass `module:Name`, its schema (and those it uses) put in `components`."""
    module, _, name = ref.partition(":")
    target = getattr(importlib.import_module(module), name)
    schema = TypeAdapter(target).json_schema(ref_template="#/components/schemas/{model}")
    # a dataclass is dumped with every field, defaulted or not: all are required (not so a model's
    # `Absent` key or a TypedDict's optional one)
    dataclasses = _dataclass_names(target)
    for sub in [schema] * is_dataclass(target) + [d for k, d in schema.get("$defs", {}).items() if k in dataclasses]:
        if "properties" in sub:
            sub["required"] = list(sub["properties"])
    components.update({key: _plain_tuples(sub) for key, sub in schema.pop("$defs", {}).items()})
    components[name] = _plain_tuples(schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _dataclass_names(target: Any, seen: set[str] | None = None) -> set[str]:
    """The names of `target` and the dataclasses its fields hold, at any depth."""
    seen = set() if seen is None else seen
    if is_dataclass(target) and isinstance(target, type) and target.__name__ not in seen:
        seen.add(target.__name__)
        for hint in get_type_hints(target).values():
            _dataclass_names(hint, seen)
    for arg in get_args(target):
        _dataclass_names(arg, seen)
    return seen


def _plain_tuples(schema: Any) -> Any:
    """A fixed-length tuple (`prefixItems`) as an array of its item types, with the length kept.
    Schemathesis 4 rewrites `prefixItems` into draft-4 `items: [...]` and then validates answers with
    a 2020-12 validator, which refuses that schema; the positions are said in the `description`
    (docs/schema/*.json keep `prefixItems`)."""
    if isinstance(schema, list):
        return [_plain_tuples(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _plain_tuples(value) for key, value in schema.items()}
    prefix = out.pop("prefixItems", None)
    if prefix is not None:
        unique = [item for i, item in enumerate(prefix) if item not in prefix[:i]]
        out["items"] = unique[0] if len(unique) == 1 else {"anyOf": unique}
        out["description"] = (out.get("description", "") + " A tuple: " + ", ".join(
            item.get("type") or "/".join(map(str, item.get("enum", []))) or "value" for item in prefix)).strip()
    return out


def _answer(doc: RouteDoc, components: dict[str, Any]) -> dict[str, Any]:
    if doc.success in (101, 302):
        return {}
    if doc.response is not None:
        schema = _schema(doc.response, components)
    elif doc.content == "application/json":
        schema = {"type": "object", "description": "a JSON object this description does not type further"}
    else:
        schema = NON_JSON.get(doc.content, {"type": "string", "contentMediaType": doc.content})
    return {"content": {doc.content: {"schema": schema}}}


def _parameters(path: str, doc: RouteDoc) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [{"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                                    for p in path.split("/") if p.startswith("{")]
    for q in doc.query:
        schema: dict[str, Any] = {"type": q.type}
        schema.update({k: v for k, v in (("minimum", q.minimum), ("maximum", q.maximum), ("default", q.default))
                       if v is not None})
        params.append({"name": q.name, "in": "query", "required": False, "description": q.description, "schema": schema})
    return params


def tag_of(path: str, doc: RouteDoc) -> str:
    """The group Swagger UI shows a route in: the original APIs together, else the resource."""
    if doc.summary.startswith("Original"):
        return "original APIs"
    parts = [p for p in unversioned(path).split("/") if p]
    if not parts or parts[0] in ("health", "livez", "readyz", "metrics"):
        return "probes" if parts else "pages"
    if parts[0] != "api":
        return "pages" if doc.content == "text/html" or parts[0] == "favicon.ico" else parts[0]
    return {"openapi.json": "docs", "apikeys": "integrations", "screen": "documents",
            "calibration": "documents"}.get(parts[1], parts[1])


def operation(method: str, path: str, doc: RouteDoc, handler: Any, components: dict[str, Any]) -> dict[str, Any]:
    alias = unversioned(path)
    description = f"Who: {doc.who}."
    if alias != path:
        description += f" Also served at `{alias}` (unversioned alias)."
    problem = {"description": "an RFC 9457 problem", "content": {PROBLEM_JSON: {"schema": {
        "$ref": "#/components/schemas/Problem"}}}}
    responses: dict[str, Any] = {str(doc.success): {"description": "success", **_answer(doc, components)}}
    for status in doc.also:
        responses[str(status)] = {"description": "the same body, in this state", **_answer(doc, components)}
    responses.update({"4XX": problem, "5XX": problem})
    op: dict[str, Any] = {"operationId": doc.operation_id or handler.__name__, "tags": [tag_of(path, doc)],
                          "summary": doc.summary,
                          "description": description, "security": SECURITY[auth_of(doc)], "responses": responses}
    params = _parameters(path, doc)
    if params:
        op["parameters"] = params
    if doc.body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _schema(doc.body, components)}}}
    return op


def build_spec(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    served = sorted(served_routes(app), key=lambda r: (r[1], r[0]))
    present = {(method, path) for method, path, _ in served}
    for method, path, handler in served:
        if versioned(path) != path and (method, versioned(path)) in present:
            continue  # an unversioned alias: documented at its v1 path
        doc = ROUTES.get((method, unversioned(path))) or RouteDoc("(undocumented)", "?")
        paths.setdefault(path, {})[method.lower()] = operation(method, path, doc, handler, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigil", "version": "1", "description": "Real-time WebRTC proctoring media server. "
                 "Every `/api/` route is versioned (`/api/v1/...`); the unversioned paths are kept as aliases. "
                 "Errors are RFC 9457 problems (`application/problem+json`) with a stable `code`. Lists are "
                 "paginated: pass a page's `next` back as `?cursor=` until it is null. The data channel: "
                 "docs/data-channel.md."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "an account JWT, a session token, an API key or the metrics token"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "vigil_auth"}}},
    }


routes = web.RouteTableDef()
#: each app's document, built once on first request: the route table is frozen once the app serves,
#: and a build takes ~0.2 s (pydantic schemas), which an open route must not spend per request
_SPECS: WeakKeyDictionary[web.Application, asyncio.Task[dict[str, Any]]] = WeakKeyDictionary()


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return json_response(await spec_of(request.app))


async def spec_of(app: web.Application) -> dict[str, Any]:
    """The app's OpenAPI document, built once, off the event loop (concurrent first callers share the build)."""
    task = _SPECS.get(app)
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):  # failed: again
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(build_spec, app))
        _SPECS[app] = task
    return await asyncio.shield(task)
