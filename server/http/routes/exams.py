"""The `/api/exams` resource: create one (proctor, admin), list the caller's (all of them for admins) a page
at a time (`?limit=`, `?cursor=`, `next`), edit one and give it a new join code (the proctor owning it, admin)."""
from __future__ import annotations

import time

from aiohttp import web

from server.accounts.exams import MAX_LIST
from server.http.access import exam_manager, require_role
from server.http.errors import json_response, read_json
from server.http.keys import EXAMS, SETTINGS
from server.http.paging import index_cursor, parse_index_cursor, query_limit
from server.protocol.answers import ExamCreated, ExamList, ExamRow
from server.protocol.http import CreateExam, ExamJoinCode, UpdateExam

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


@routes.patch("/api/exams/{exam_id}")
async def update_exam(request: web.Request) -> web.Response:
    """Title and policy (the policy checked as on create); the sessions already running keep the policy
    they started with, new sessions get the new one."""
    _, exam_id = await exam_manager(request)
    body = UpdateExam.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return json_response(ExamRow.model_validate(await request.app[EXAMS].update(exam_id, changes)))


@routes.post("/api/exams/{exam_id}/join-code")
async def new_join_code(request: web.Request) -> web.Response:
    _, exam_id = await exam_manager(request)
    code = await request.app[EXAMS].new_join_code(exam_id)
    return json_response(ExamJoinCode(exam_id=exam_id, join_code=code).model_dump(mode="json"))
