"""The `/api/exams` resource: create one (proctor, admin), list the caller's (all of them for admins), a page
at a time (`?limit=`, `?cursor=`, `next`)."""
from __future__ import annotations

import time

from aiohttp import web

from server.accounts.exams import MAX_LIST
from server.http.access import require_role
from server.http.errors import json_response, read_json
from server.http.keys import EXAMS, SETTINGS
from server.http.paging import index_cursor, parse_index_cursor, query_limit
from server.protocol.answers import ExamCreated, ExamList
from server.protocol.http import CreateExam

routes = web.RouteTableDef()


@routes.post("/api/exams")
async def create_exam(request: web.Request) -> web.Response:
    user = await require_role(request, "proctor", "admin")
    body = CreateExam.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    exam = await request.app[EXAMS].create(user, body.title.strip() or body.title, body.policy, time.time())
    return json_response(ExamCreated.model_validate(exam), status=201)


@routes.get("/api/exams")
async def list_exams(request: web.Request) -> web.Response:
    user = await require_role(request, "proctor", "admin")
    exams, last = await request.app[EXAMS].page_for(user, parse_index_cursor(request),
                                                    query_limit(request, MAX_LIST, MAX_LIST))
    return json_response(ExamList.model_validate({"exams": exams, "next": index_cursor(last)}))
