"""Integrators' API keys (admins) and the join tokens a key mints (docs/integration.md):

- `POST /api/apikeys`: a key scoped to exams; the answer holds its secret, shown this once
- `GET /api/apikeys`: every key, newest first, without secrets, a page at a time (`?limit=`, `?cursor=`, `next`)
- `DELETE /api/apikeys/{key_id}`: revoke it (the record stays, marked, for the audit trail)
- `POST /api/exams/{exam_id}/join-tokens`: with an API key scoped to the exam, a short-lived join token
  for one candidate, which their browser presents to `POST /api/sessions` as `join_token`

Sessions are created with a key on `POST /api/sessions` itself (`server.http.access.session_grant`).
"""
from __future__ import annotations

import time

from aiohttp import web

from server.accounts.apikeys import MAX_LIST
from server.http.access import require_api_key, require_role
from server.http.errors import json_response, read_json
from server.http.keys import APIKEYS, JOIN_TOKENS, SETTINGS
from server.http.paging import index_cursor, parse_index_cursor, query_limit
from server.protocol.answers import ApiKeyCreated, ApiKeyList, ApiKeyRow, JoinToken
from server.protocol.http import CreateApiKey, CreateJoinToken

routes = web.RouteTableDef()


@routes.post("/api/apikeys")
async def create_key(request: web.Request) -> web.Response:
    admin = await require_role(request, "admin")
    body = CreateApiKey.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    created = await request.app[APIKEYS].create(body.name, list(body.exams), admin.user_id, time.time())
    return json_response(ApiKeyCreated.model_validate(created), status=201, headers={"Cache-Control": "no-store"})


@routes.get("/api/apikeys")
async def list_keys(request: web.Request) -> web.Response:
    await require_role(request, "admin")
    keys, last = await request.app[APIKEYS].page(parse_index_cursor(request), query_limit(request, MAX_LIST, MAX_LIST))
    return json_response(ApiKeyList.model_validate({"keys": keys, "next": index_cursor(last)}))


@routes.delete("/api/apikeys/{key_id}")
async def revoke_key(request: web.Request) -> web.Response:
    await require_role(request, "admin")
    return json_response(ApiKeyRow.model_validate(await request.app[APIKEYS].revoke(request.match_info["key_id"],
                                                                                     time.time())))


@routes.post("/api/exams/{exam_id}/join-tokens")
async def mint_join_token(request: web.Request) -> web.Response:
    key = await require_api_key(request)
    body = CreateJoinToken.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    minted = request.app[JOIN_TOKENS].issue(key, request.match_info["exam_id"], body.candidate_id, body.ttl_s,
                                            time.time())
    return json_response(JoinToken.model_validate(minted), status=201, headers={"Cache-Control": "no-store"})
