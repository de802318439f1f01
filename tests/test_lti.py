"""The LTI 1.3 tool against a platform simulated here: its own RSA key, its JWKS served by a tiny aiohttp app
on loopback, id_tokens signed in the test (PyJWT RS256), through the full OIDC login -> launch flow of a live
Vigil server. Learners get a session carrying their LMS identity, Instructors a proctor login for the
activity's exam, deep linking a response signed with the tool's key; forged or replayed launches a 4xx."""
from __future__ import annotations

import html
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from server.cluster.placement import NewSession, WorkerRouter
from server.http.lti.claims import (
    PROCTOR_PARAM,
    Launch,
    candidate_id_of,
    proctor_claim,
    proctor_from_claim,
    role_of,
)
from tests.conftest import free_port

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
LEARNER = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
CLIENT_ID, DEPLOYMENT = "vigil-client-1", "deployment-1"


@dataclass
class Platform:
    """An LMS as the tool sees it: an issuer with a signing key, and its endpoints on loopback (`base`): the
    JWKS, and an authorisation endpoint that answers the tool's redirect as a browser-driven LMS does."""

    issuer: str
    key: rsa.RSAPrivateKey
    kid: str
    base: str

    @property
    def jwks_url(self) -> str:
        return self.base + "/jwks"

    @property
    def auth_url(self) -> str:
        return self.base + "/auth"

    def registration(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "client_id": CLIENT_ID, "deployment_ids": [DEPLOYMENT],
                "auth_login_url": self.auth_url, "auth_token_url": self.base + "/token",
                "key_set_url": self.jwks_url}

    def id_token(self, nonce: str, *, roles: list[str], sub: str, context: str = "course-1", link: str | None = "quiz-1",
                 message_type: str = "LtiResourceLinkRequest", key: rsa.RSAPrivateKey | None = None,
                 **extra: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300, "nonce": nonce,
            "name": f"User {sub}", CLAIM + "deployment_id": DEPLOYMENT, CLAIM + "message_type": message_type,
            CLAIM + "version": "1.3.0", CLAIM + "roles": roles,
            CLAIM + "context": {"id": context, "title": "Physics 101"},
            CLAIM + "target_link_uri": "https://vigil.example/lti/launch", **extra}
        if link is not None:
            claims[CLAIM + "resource_link"] = {"id": link, "title": "Midterm"}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "platform-key-1", "alg": "RS256", "use": "sig"})

    port = free_port()
    made = Platform(f"https://lms-{uuid.uuid4().hex[:8]}.example", key, "platform-key-1", f"http://127.0.0.1:{port}")

    async def serve_jwks(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    async def authorise(request: web.Request) -> web.Response:
        """The LMS's side of the OIDC login: the user is `login_hint` (`role:sub`); the id_token is posted
        back to the tool's redirect URI by the browser, as a form."""
        role, _, sub = request.query["login_hint"].partition(":")
        token = made.id_token(request.query["nonce"], roles=LEARNER if role == "learner" else INSTRUCTOR, sub=sub)
        page = (f'<form id="f" method="post" action="{html.escape(request.query["redirect_uri"])}">'
                f'<input type="hidden" name="id_token" value="{token}">'
                f'<input type="hidden" name="state" value="{html.escape(request.query["state"])}"></form>'
                '<script>document.getElementById("f").submit()</script>')
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/jwks", serve_jwks)
    app.router.add_get("/auth", authorise)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield made
    finally:
        await runner.cleanup()


@pytest.fixture
async def tool(vigil_server, platform: Platform):  # type: ignore[no-untyped-def]
    folder = vigil_server.settings.data_dir / "lti"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "platforms.json").write_text(json.dumps({"platforms": [platform.registration()]}))
    return vigil_server


def browser() -> aiohttp.ClientSession:
    """A user's browser: keeps the tool's cookies (the OIDC state) between login and launch."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def oidc_login(http: aiohttp.ClientSession, base: str, platform: Platform, **params: str) -> dict[str, str]:
    """The platform starts the login; the tool answers a redirect to the platform's authorisation endpoint."""
    form = {"iss": platform.issuer, "login_hint": "hint", "target_link_uri": base + "/lti/launch",
            "lti_message_hint": "msg", "client_id": CLIENT_ID, **params}
    async with http.post(base + "/lti/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == platform.auth_url
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == form["target_link_uri"]
    assert query["response_type"] == "id_token" and query["response_mode"] == "form_post" and query["scope"] == "openid"
    return query


async def post_launch(http: aiohttp.ClientSession, base: str, id_token: str, state: str,
                      path: str = "/lti/launch") -> tuple[int, str]:
    """The platform's form post; a Learner's 303 is followed in the same browser, as a browser does."""
    async with http.post(base + path, data={"id_token": id_token, "state": state}, allow_redirects=False) as resp:
        if resp.status != 303:
            return resp.status, await resp.text()
        location = resp.headers["Location"]
    async with http.get(base + location, allow_redirects=False) as page:
        return page.status, await page.text()


async def launch_as(base: str, platform: Platform, **claims: Any) -> tuple[int, str]:
    """The whole flow in a fresh browser: OIDC login, then the platform's signed form post."""
    async with browser() as http:
        auth = await oidc_login(http, base, platform)
        return await post_launch(http, base, platform.id_token(auth["nonce"], **claims), auth["state"])


def launch_json(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="vigil-launch">(.*?)</script>', page)
    assert found, page
    return json.loads(found.group(1))


async def proctor_cookie(base: str, page: str) -> tuple[aiohttp.ClientSession, str]:
    """Follow an Instructor page's one-time link in a new tab: a browser with the account cookie."""
    found = re.search(r'id="open-dashboard" href="([^"]+)"', page)
    assert found, page
    url = html.unescape(found.group(1))
    http = browser()
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/dashboard.html", await resp.text()
        assert "vigil_auth" in resp.cookies
    return http, url


async def test_instructor_then_learner_launch(tool, platform: Platform) -> None:
    base = tool.url
    status, page = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-1")
    assert status == 200, page
    exam_id = re.search(r"<code>([0-9a-f]{32})</code>", page).group(1)  # type: ignore[union-attr]
    proctor, link = await proctor_cookie(base, page)
    async with proctor:
        async with proctor.get(base + "/api/exams") as resp:
            assert resp.status == 200
            exams = (await resp.json())["exams"]
        assert [e["title"] for e in exams if e["exam_id"] == exam_id] == ["Physics 101 - Midterm"]
        async with proctor.get(link, allow_redirects=False) as resp:
            assert resp.status == 401  # the one-time link is spent

        status, page = await launch_as(base, platform, roles=LEARNER, sub="student-7")
        assert status == 200, page
        launch = launch_json(page)
        assert launch["candidateId"] == "student-7"
        assert 'src="/static/lti-launch.js"' in page
        session = await tool.store.session(launch["sessionId"])
        assert session["exam_id"] == exam_id and session["candidate_id"] == "student-7"
        assert session["identity"].startswith("lti:") and session["identity"].endswith(":student-7")
        async with aiohttp.ClientSession() as http:  # the page's token is the session's own
            async with http.get(f"{base}/api/sessions/{launch['sessionId']}",
                                headers={"Authorization": f"Bearer {launch['token']}"}) as resp:
                assert resp.status == 200
        async with proctor.get(f"{base}/api/sessions/{launch['sessionId']}") as resp:
            assert resp.status == 200, await resp.text()  # the Instructor proctors this exam
        # the proctor's browser, with its account cookie, launches again from an LMS on the same site: the launch
        # is the platform's form post, never refused as a cookie-riding cross-site write
        auth = await oidc_login(proctor, base, platform)
        status, page = await post_launch(proctor, base, platform.id_token(auth["nonce"], roles=INSTRUCTOR,
                                                                          sub="teacher-1"), auth["state"])
        assert status == 200 and exam_id in page, page

        owner = next(e["owner"] for e in exams if e["exam_id"] == exam_id)

    # the same Instructor launching again lands on the same account and exam
    status, again = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-1")
    assert status == 200 and exam_id in again
    # another instructor of the course proctors the same exam, with the owner's rights; the exam keeps its owner
    status, other = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-2")
    assert status == 200 and exam_id in other, other
    co_proctor, _ = await proctor_cookie(base, other)
    async with co_proctor:
        async with co_proctor.get(base + "/api/exams") as resp:
            assert resp.status == 200
            [listed] = [e for e in (await resp.json())["exams"] if e["exam_id"] == exam_id]
        assert listed["owner"] == owner
        async with co_proctor.get(f"{base}/api/sessions/{launch['sessionId']}") as resp:
            assert resp.status == 200, await resp.text()
        async with co_proctor.get(f"{base}/api/exams/{exam_id}/webhooks") as resp:
            assert resp.status == 200, await resp.text()
    # an instructor of another course (the same link id in another context) gets another exam, not this one
    status, elsewhere = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-3", context="course-2")
    assert status == 200 and exam_id not in elsewhere
    outsider, _ = await proctor_cookie(base, elsewhere)
    async with outsider:
        async with outsider.get(f"{base}/api/sessions/{launch['sessionId']}") as resp:
            assert resp.status == 403
        async with outsider.get(base + "/api/exams") as resp:
            assert exam_id not in {e["exam_id"] for e in (await resp.json())["exams"]}


async def test_a_learner_before_any_instructor_is_told_to_wait(tool, platform: Platform) -> None:
    status, body = await launch_as(tool.url, platform, roles=LEARNER, sub="early", link="quiz-nobody-opened")
    assert status == 409 and "not set up yet" in json.loads(body)["error"]


async def test_deep_linking_returns_a_signed_resource_link_that_learners_then_launch(tool, platform: Platform) -> None:
    base = tool.url
    settings = {"deep_link_return_url": platform.issuer + "/deep-link-return", "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"], "data": "opaque-42"}
    dl_claim: dict[str, Any] = {"https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": settings}
    async with browser() as http:
        auth = await oidc_login(http, base, platform, target_link_uri=base + "/lti/deep-link")
        assert auth["redirect_uri"] == base + "/lti/deep-link"
        token = platform.id_token(auth["nonce"], roles=INSTRUCTOR, sub="teacher-dl", link=None,
                                  message_type="LtiDeepLinkingRequest", **dl_claim)
        status, page = await post_launch(http, base, token, auth["state"], "/lti/deep-link")
    assert status == 200, page
    assert f'action="{platform.issuer}/deep-link-return"' in page
    response_jwt = re.search(r'name="JWT" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/lti/jwks") as resp:
            jwks = await resp.json()
    kid = jwt.get_unverified_header(response_jwt)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    message = jwt.decode(response_jwt, RSAAlgorithm.from_jwk(json.dumps(key)), algorithms=["RS256"],  # type: ignore[arg-type]
                         audience=platform.issuer, issuer=CLIENT_ID)
    assert message[CLAIM + "message_type"] == "LtiDeepLinkingResponse"
    assert message[CLAIM + "deployment_id"] == DEPLOYMENT
    assert message["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-42"
    [item] = message["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink" and item["url"] == base + "/lti/launch"

    # the platform puts the link's custom parameters in its launches: a Learner may come first
    status, page = await launch_as(base, platform, roles=LEARNER, sub="student-dl", link="quiz-dl",
                                   **{CLAIM + "custom": item["custom"]})
    assert status == 200, page
    session = await tool.store.session(launch_json(page)["sessionId"])
    status, instructor_page = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-dl", link="quiz-dl")
    assert status == 200 and session["exam_id"] in instructor_page  # the exam is the deep-linking instructor's
    # the signed parameter carried to another course names nobody there
    status, body = await launch_as(base, platform, roles=LEARNER, sub="student-dl", link="quiz-dl",
                                   context="course-2", **{CLAIM + "custom": item["custom"]})
    assert status == 409, body


async def test_a_learner_reloads_the_launch_page_and_only_their_browser_opens_it(tool, platform: Platform) -> None:
    base = tool.url
    status, _ = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-r", link="quiz-r")
    assert status == 200

    async def learner_launch(http: aiohttp.ClientSession, sub: str) -> tuple[str, str, dict[str, str]]:
        """The launch's 303 (not followed): the page's path, its pass cookie, and the form posted."""
        auth = await oidc_login(http, base, platform)
        token = platform.id_token(auth["nonce"], roles=LEARNER, sub=sub, link="quiz-r")
        async with http.post(base + "/lti/launch", data={"id_token": token, "state": auth["state"]},
                             allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            cookie = resp.cookies["vigil_lti_page"]
            assert cookie["httponly"] and cookie["path"] == resp.headers["Location"]
            assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone when the browser closes
            return resp.headers["Location"], cookie.value, {"id_token": token, "state": auth["state"]}

    async with browser() as http:
        location, pass_value, form = await learner_launch(http, "student-r")
        sid = location.rsplit("/", 1)[1]
        assert location == f"/lti/candidate/{sid}"  # the URL names the session, and carries no secret
        async with http.get(base + location) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
            first = launch_json(await resp.text())
        async with http.get(base + location) as resp:  # the Learner reloads the page
            assert resp.status == 200
            again = launch_json(await resp.text())
        assert first == again and first["sessionId"] == sid and first["candidateId"] == "student-r"
        assert (await tool.store.session(sid))["identity"].endswith(":student-r")
        # the launch itself is still one-time: posting the same id_token again is refused
        async with http.post(base + "/lti/launch", data=form, allow_redirects=False) as resp:
            assert resp.status == 409 and "already used" in (await resp.json())["error"]

    async with aiohttp.ClientSession() as stranger:  # the URL alone (a log, a history) opens nothing
        async with stranger.get(base + location) as resp:
            assert resp.status == 401 and "browser that launched" in (await resp.json())["error"]
        async with stranger.get(base + location, headers={"Cookie": f"vigil_lti_page={pass_value[:-4]}AAAA"}) as resp:
            assert resp.status == 401  # an edited pass
        async with stranger.get(base + location, headers={"Cookie": f"vigil_lti_page={first['token']}"}) as resp:
            assert resp.status == 401  # the session token is not a pass
    async with browser() as other:  # another Learner's pass on this Learner's page
        other_location, other_pass, _ = await learner_launch(other, "student-s")
        assert other_location != location
        async with other.get(base + location, headers={"Cookie": f"vigil_lti_page={other_pass}"}) as resp:
            assert resp.status == 403
    async with aiohttp.ClientSession() as http:  # once the session has ended, its page no longer opens
        async with http.post(f"{base}/api/sessions/{sid}/end", json={},
                             headers={"Authorization": f"Bearer {first['token']}"}) as resp:
            assert resp.status == 200
        async with http.get(base + location, headers={"Cookie": f"vigil_lti_page={pass_value}"}) as resp:
            body = await resp.text()
            assert resp.status == 409 and "has ended" in body and first["token"] not in body


async def test_a_learner_launch_placed_on_another_worker_relays_its_redirect_and_pass(tool, platform: Platform) -> None:
    """A Learner's launch makes a session, so placement may proxy it to a less loaded worker: the 303 and its
    pass cookie must reach the browser as they are (a proxy that followed the redirect itself would answer
    the page's 401: its own request carries no pass)."""
    base = tool.url
    status, _ = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-p", link="quiz-p")
    assert status == 200
    port = free_port()
    front_url = f"http://127.0.0.1:{port}"

    async def workers() -> dict[str, dict[str, str]]:  # this worker is full, the real server is idle
        return {"front": {"url": front_url, "sessions": "9", "capacity": "1"},
                "vigil": {"url": base, "sessions": "0", "capacity": "10"}}

    router = WorkerRouter(SimpleNamespace(worker_id="front"), SimpleNamespace(workers=workers),  # type: ignore[arg-type]
                          lambda _request: NewSession())

    async def never(_request: web.Request) -> web.Response:
        raise AssertionError("placement should have sent the launch to the idle worker")

    front = web.Application(middlewares=[router.middleware])
    front.router.add_post("/lti/launch", never)
    runner = web.AppRunner(front)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with browser() as http:
            auth = await oidc_login(http, base, platform)
            token = platform.id_token(auth["nonce"], roles=LEARNER, sub="student-p", link="quiz-p")
            async with http.post(front_url + "/lti/launch", data={"id_token": token, "state": auth["state"]},
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
                location = resp.headers["Location"]
                assert location.startswith("/lti/candidate/") and "vigil_lti_page" in resp.cookies
            async with http.get(base + location) as resp:  # cookies name a host, not a port: the page opens
                assert resp.status == 200
                assert launch_json(await resp.text())["candidateId"] == "student-p"
    finally:
        await router.close()
        await runner.cleanup()


async def test_forged_replayed_and_unknown_launches_are_refused(tool, platform: Platform) -> None:
    base = tool.url
    status, page = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-x", link="quiz-x")
    assert status == 200, page
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with browser() as http:
        auth = await oidc_login(http, base, platform)
        # signed with another key under the platform's kid
        status, body = await post_launch(http, base, platform.id_token(
            auth["nonce"], roles=LEARNER, sub="s", link="quiz-x", key=forger), auth["state"])
        assert status == 401 and "Can't decode id_token" in json.loads(body)["error"], body
        # a nonce the tool never issued
        status, body = await post_launch(http, base, platform.id_token(
            "not-our-nonce", roles=LEARNER, sub="s", link="quiz-x"), auth["state"])
        assert status == 401 and "Invalid Nonce" in json.loads(body)["error"], body
        # a state this browser was not given
        status, body = await post_launch(http, base, platform.id_token(
            auth["nonce"], roles=LEARNER, sub="s", link="quiz-x"), "state-forged")
        assert status == 401 and "State not found" in json.loads(body)["error"], body
        # the genuine launch works once; the same POST again is a replay
        token = platform.id_token(auth["nonce"], roles=LEARNER, sub="s", link="quiz-x")
        status, page = await post_launch(http, base, token, auth["state"])
        assert status == 200, page
        status, body = await post_launch(http, base, token, auth["state"])
        assert status == 409 and "already used" in json.loads(body)["error"], body
    async with browser() as http:
        async with http.post(base + "/lti/login", data={"iss": "https://unknown.example", "login_hint": "h"},
                             allow_redirects=False) as resp:
            assert resp.status == 403 and "unknown LTI platform" in (await resp.json())["error"]
        stranger = Platform("https://unknown.example", forger, "k", platform.base)
        status, body = await post_launch(http, base, stranger.id_token("n", roles=LEARNER, sub="s"), "state-x")
        assert status == 403 and "unknown LTI platform" in json.loads(body)["error"], body
        status, body = await post_launch(http, base, "not-a-jwt", "state-x")
        assert status == 401, body


# -- the pure parts ---------------------------------------------------------------------------------
def test_roles_ids_and_the_signed_proctor_parameter() -> None:
    assert role_of(INSTRUCTOR + LEARNER) == "instructor"
    assert role_of(LEARNER) == "learner"
    assert role_of(["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]) is None
    assert candidate_id_of("student-7") == "student-7"
    assert re.fullmatch(r"lti-[0-9a-f]{32}", candidate_id_of("a user/with spaces"))
    launch = Launch.of({"iss": "https://lms", "aud": [CLIENT_ID], "sub": "u", CLAIM + "context": {"id": "c1"}})
    value = proctor_claim("secret", launch, "user1")
    assert proctor_from_claim("secret", Launch.of({**_claims(launch), CLAIM + "custom": {PROCTOR_PARAM: value}})) == "user1"
    forged = value.replace("user1", "user2")
    assert proctor_from_claim("secret", Launch.of({**_claims(launch), CLAIM + "custom": {PROCTOR_PARAM: forged}})) is None


def _claims(launch: Launch) -> dict[str, Any]:
    return {"iss": launch.issuer, "aud": launch.client_id, "sub": launch.subject, CLAIM + "context": {"id": launch.context_id}}
