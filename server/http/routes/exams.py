"""The `/api/exams` resource: create one (proctor, admin), list the caller's (all of them for admins)."""
from __future__ import annotations

import time

from aiohttp import web

from server.http.access import require_role
from server.http.errors import json_response, read_json
from server.http.keys import EXAMS, SETTINGS
from server.protocol.http import CreateExam

routes = web.RouteTableDef()


@routes.post("/api/exams")
async def create_exam(request: web.Request) -> web.Response:
    user = await require_role(request, "proctor", "admin")
    body = CreateExam.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    exam = await request.app[EXAMS].create(user, body.title.strip() or body.title, body.policy, time.time())
    return json_response(exam, status=201)


@routes.get("/api/exams")
async def list_exams(request: web.Request) -> web.Response:
    user = await require_role(request, "proctor", "admin")
    return json_response({"exams": await request.app[EXAMS].list_for(user)})
