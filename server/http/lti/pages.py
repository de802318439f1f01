"""The pages an LTI launch answers with: the candidate's embedded client, the instructor's way in.

The candidate's page hosts the `<vigil-proctor>` element (docs/embedding.md: consent, system check,
live, calibration, finish) on the session the launch made; it is the answer to `GET
/lti/candidate/{session_id}` with the launch's pass (`page_pass`), so a reload shows it again. The
session id and token go to the page as JSON in a `<script type="application/json">` (with `<` escaped,
so no value can close the element), never in the URL; `static/lti-launch.js` hands them to the element. The instructor's page carries a
one-time login link for the proctor pages, opened as a top-level tab: an LMS frames the tool, and the
account cookie (SameSite=Strict) is only set and sent first-party.
"""
from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web

from server.http.lti.page_pass import CandidatePage

HEAD = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="/favicon.ico" type="image/svg+xml"><link rel="stylesheet" href="/static/vigil.css">'
        '<title>{title}</title></head>')
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _json_for_script(data: dict[str, Any]) -> str:
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def candidate_page(page: CandidatePage) -> web.Response:
    launch = {"sessionId": page.session_id, "token": page.token, "candidateId": page.candidate_id}
    body = (HEAD.format(title=html.escape(page.title)) +
            '<body data-vigil-state="consent"><main class="exam">'
            f'<header><h1>{html.escape(page.title)}</h1>'
            f'<p class="sub">{html.escape(page.name)}, this activity is proctored by Vigil.</p></header>'
            '<vigil-proctor id="proctor"></vigil-proctor></main>'
            f'<script type="application/json" id="vigil-launch">{_json_for_script(launch)}</script>'
            '<script type="module" src="/static/lti-launch.js"></script></body></html>')
    return web.Response(text=body, content_type="text/html", headers=NO_STORE)


def instructor_page(*, title: str, exam_id: str, handoff_url: str) -> web.Response:
    body = (HEAD.format(title=html.escape(title)) +
            '<body><main class="exam">'
            f'<h1>{html.escape(title)}</h1>'
            '<p>Candidates who open this activity are proctored by Vigil. You are its proctor.</p>'
            f'<p><a id="open-dashboard" href="{html.escape(handoff_url)}" target="_blank" rel="noopener">'
            'Open the proctor dashboard</a> (a new tab; the link works once, for two minutes).</p>'
            f'<p class="muted">Exam id: <code>{html.escape(exam_id)}</code></p></main></body></html>')
    return web.Response(text=body, content_type="text/html", headers=NO_STORE)
