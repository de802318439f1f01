"""An exam's webhook endpoints (admin, or the proctor owning the exam), `server.accounts.webhooks`:

- `POST /api/exams/{exam_id}/webhooks`: a URL and the types it wants; the answer holds its `whsec_` secret
- `GET /api/exams/{exam_id}/webhooks`: the exam's endpoints, without secrets, with their retry state
- `DELETE /api/exams/{exam_id}/webhooks/{webhook_id}`: the endpoint, its undelivered messages and its log
- `GET /api/exams/{exam_id}/webhooks/{webhook_id}/deliveries`: the newest attempts (`?limit=`), and how
  many messages wait

Delivery is `server.cluster.webhooks`; the messages are in docs/integration.md.
"""
from __future__ import annotations

import time

from aiohttp import web

from server.http.access import exam_manager
from server.http.errors import json_response, read_json
from server.http.keys import SETTINGS, WEBHOOKS
from server.protocol.answers import Deliveries, WebhookCreated, WebhookDeleted, WebhookList
from server.protocol.errors import ApiError
from server.protocol.http import CreateWebhook

routes = web.RouteTableDef()


@routes.post("/api/exams/{exam_id}/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    user, exam_id = await exam_manager(request)
    body = CreateWebhook.model_validate(await read_json(request, request.app[SETTINGS].max_body_bytes))
    created = await request.app[WEBHOOKS].create(exam_id, body.url, None if body.events is None else list(body.events),
                                                 user.user_id, time.time())
    return json_response(WebhookCreated.model_validate(created), status=201, headers={"Cache-Control": "no-store"})


@routes.get("/api/exams/{exam_id}/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    _, exam_id = await exam_manager(request)
    return json_response(WebhookList.model_validate({"webhooks": await request.app[WEBHOOKS].of_exam(exam_id)}))


@routes.delete("/api/exams/{exam_id}/webhooks/{webhook_id}")
async def delete_webhook(request: web.Request) -> web.Response:
    _, exam_id = await exam_manager(request)
    return json_response(WebhookDeleted.model_validate(
        await request.app[WEBHOOKS].delete(exam_id, request.match_info["webhook_id"])))


@routes.get("/api/exams/{exam_id}/webhooks/{webhook_id}/deliveries")
async def webhook_deliveries(request: web.Request) -> web.Response:
    _, exam_id = await exam_manager(request)
    try:
        limit = int(request.query.get("limit", 100))
    except ValueError:
        raise ApiError(400, "limit must be an integer") from None
    return json_response(Deliveries.model_validate(
        await request.app[WEBHOOKS].deliveries(exam_id, request.match_info["webhook_id"], limit)))
