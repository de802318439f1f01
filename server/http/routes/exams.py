"""HTTP routes of exams: POST /api/exams (proctor, admin) and GET /api/exams (own, or all for admins)."""
from __future__ import annotations

import time

from aiohttp import web

from server.accounts.auth import Authenticator
from server.accounts.exams import Exams
from server.core.config import Settings
from server.http.errors import read_json
from server.http.keys import EXAMS
from server.protocol.http import CreateExam
from server.store.store import Store


def register_exam_routes(app: web.Application, *, settings: Settings, store: Store,
                         auth: Authenticator) -> Exams:
    exams = Exams(store.exams)
    app[EXAMS] = exams
    auth.exam_owner = exams.owner

    async def create_exam(request: web.Request) -> web.Response:
        user = await auth.require_role(request, "proctor", "admin")
        body = CreateExam.model_validate(await read_json(request, settings.max_body_bytes))
        return web.json_response(await exams.create(user, body.title.strip() or body.title, body.policy,
                                                    time.time()), status=201)

    async def list_exams(request: web.Request) -> web.Response:
        user = await auth.require_role(request, "proctor", "admin")
        return web.json_response({"exams": await exams.list_for(user)})

    app.router.add_post("/api/exams", create_exam)
    app.router.add_get("/api/exams", list_exams)
    return exams
