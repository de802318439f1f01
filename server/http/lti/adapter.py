"""pylti1p3 behind aiohttp: the request, cookie, launch-data storage and redirect classes it asks for.

pylti1p3 ships Django and Flask adapters; these are the same few classes for aiohttp. pylti1p3 is
synchronous (it fetches the platform's JWKS with `requests`, checks RSA signatures), so it runs on
the LTI tool's own executor, never on the event loop, and sees the request as a snapshot taken on the
loop (`LtiRequest.of`): it never touches aiohttp's objects from its thread.

Its state (nonces, the OIDC state, validated launches, the platforms' JWKS) goes to Redis through the
store (`LtiRecords`), never to this worker's memory: the login and the launch that follows may land on
different workers. pylti1p3's storage API is synchronous, so `StoreBridge` hands each read and write
to the event loop (`run_coroutine_threadsafe`) and waits for it, in the executor's thread.

Cookies pylti1p3 sets (the OIDC state, its session id) are collected by `LtiCookies` and put on the
aiohttp response by the route; over https they are `SameSite=None; Secure`, as an LMS frames the tool.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pylti1p3.cookie import CookieService
from pylti1p3.launch_data_storage.cache import CacheDataStorage
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfDict

from server.protocol.errors import ApiError
from server.store.lti_records import LtiRecords

#: how long pylti1p3's thread waits for one Redis read or write on the loop
STORE_TIMEOUT_S = 10.0


async def read_form(request: web.Request) -> Mapping[str, Any]:
    """The form body (urlencoded or multipart), 400 when it cannot be parsed (a multipart type without
    its boundary makes aiohttp raise ValueError, which would otherwise be a 500)."""
    try:
        return await request.post()
    except ValueError as exc:
        raise ApiError(400, "malformed form body", str(exc)[:200], code="bad_request") from None


class LtiRequest(Request):
    """The request as pylti1p3 reads it: form or query parameters, cookies, https or not."""

    def __init__(self, params: Mapping[str, str], cookies: Mapping[str, str], secure: bool) -> None:
        self._params = dict(params)
        self._cookies = dict(cookies)
        self._secure = secure

    @classmethod
    async def of(cls, request: web.Request) -> LtiRequest:
        """A snapshot of `request` (its form body read here, on the loop)."""
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            form = await read_form(request)
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return cls(params, request.cookies, request.secure)

    @property
    def session(self) -> dict[str, Any]:
        return {}  # pylti1p3's session storage is not used: `RedisLaunchData` is

    def get_param(self, key: str) -> str:
        return self._params.get(key)  # type: ignore[return-value]  # pylti1p3 reads None as "absent"

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)

    def is_secure(self) -> bool:
        return self._secure


@dataclass(frozen=True)
class _Cookie:
    value: str
    max_age: int | None


class LtiCookies(CookieService):
    """Reads pylti1p3's cookies off the snapshot; collects the ones it sets for the response."""

    def __init__(self, request: LtiRequest) -> None:
        self._request = request
        self.to_set: dict[str, _Cookie] = {}

    def _key(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name: str) -> str | None:
        return self._request.get_cookie(self._key(name))

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        self.to_set[self._key(name)] = _Cookie(str(value), exp)

    def apply(self, response: web.StreamResponse) -> None:
        for name, cookie in self.to_set.items():
            set_tool_cookie(response, name, cookie.value, cookie.max_age, secure=self._request.is_secure())


def set_tool_cookie(response: web.StreamResponse, name: str, value: str, max_age: int | None, *, secure: bool,
                    path: str = "/") -> None:
    """A cookie of the LTI tool, HttpOnly. An LMS shows the tool in an iframe: its cookies are third-party
    there, so SameSite=None (which needs Secure) over https; Lax over plain http (a test, a dev box)."""
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, secure=secure,
                        samesite="None" if secure else "Lax")


@dataclass
class StoreBridge:
    """pylti1p3's cache (`get`, `set`), answered by the store on the event loop."""

    records: LtiRecords
    loop: asyncio.AbstractEventLoop

    def get(self, key: str) -> Any:
        return asyncio.run_coroutine_threadsafe(self.records.cache_get(key), self.loop).result(STORE_TIMEOUT_S)

    def set(self, key: str, value: Any, exp: int | None = None) -> None:
        asyncio.run_coroutine_threadsafe(self.records.cache_set(key, value, exp), self.loop).result(STORE_TIMEOUT_S)


class RedisLaunchData(CacheDataStorage[Any]):
    """pylti1p3's launch data storage, in Redis (`StoreBridge`)."""

    def __init__(self, bridge: StoreBridge) -> None:
        super().__init__()
        self._cache = bridge  # type: ignore[assignment]  # pylti1p3 declares it None until set


@dataclass
class LtiRedirect(Redirect[str]):
    """pylti1p3's redirect: only the address; the route answers the 302 and sets the cookies."""

    location: str

    def do_redirect(self) -> str:
        return self.location

    def do_js_redirect(self) -> str:
        return self.location

    def set_redirect_url(self, location: str) -> None:
        self.location = location

    def get_redirect_url(self) -> str:
        return self.location


class LtiOidcLogin(OIDCLogin[LtiRequest, ToolConfDict, SessionService, LtiCookies, str]):
    def get_redirect(self, url: str) -> Redirect[str]:
        return LtiRedirect(url)


class LtiMessageLaunch(MessageLaunch[LtiRequest, ToolConfDict, SessionService, LtiCookies]):
    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)


@dataclass
class LtiRequestParts:
    """One request's pylti1p3 collaborators, made together (the cookies go back on the response)."""

    request: LtiRequest
    cookies: LtiCookies
    session: SessionService
    storage: RedisLaunchData

    @classmethod
    def make(cls, request: LtiRequest, bridge: StoreBridge) -> LtiRequestParts:
        storage = RedisLaunchData(bridge)
        session = SessionService(request)
        session.set_data_storage(storage)
        return cls(request, LtiCookies(request), session, storage)

    def login(self, config: ToolConfDict) -> LtiOidcLogin:
        return LtiOidcLogin(self.request, config, self.session, self.cookies, launch_data_storage=self.storage)

    def launch(self, config: ToolConfDict) -> LtiMessageLaunch:
        launch = LtiMessageLaunch(self.request, config, self.session, self.cookies, launch_data_storage=self.storage)
        # platforms' JWKS cached in Redis for every worker, not fetched on each launch
        launch.set_public_key_caching(self.storage, cache_lifetime=3600)
        return launch
