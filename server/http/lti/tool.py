"""The LTI 1.3 tool: pylti1p3's OIDC login, launch validation and deep-linking response, off the loop.

`LtiTool` owns a small executor (pylti1p3 is synchronous: the platform's JWKS over `requests`, RSA
signatures, the registration file) and runs every pylti1p3 call there, each with its request's
collaborators (`adapter.LtiRequestParts`) and the store reached back through the loop. What pylti1p3
refuses (a bad signature, an unknown nonce or state, an unknown deployment) is a 401 naming the reason;
an issuer no registration names is a 403, said before pylti1p3 looks at anything.
"""
from __future__ import annotations

import asyncio
import html
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jwt
from aiohttp import web
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfDict

from server.http.lti.adapter import LtiRequest, LtiRequestParts, StoreBridge
from server.http.lti.claims import DEEP_LINKING, DEEP_LINKING_SETTINGS, RESOURCE_LAUNCH, Launch
from server.http.lti.registry import read_platforms, tool_config, tool_key
from server.protocol.errors import ApiError
from server.store.lti_records import LtiRecords

T = TypeVar("T")
#: threads for pylti1p3: launches are rare next to frames, and each mostly waits on the network
THREADS = 2


@dataclass(frozen=True)
class ValidatedLaunch:
    """A launch pylti1p3 accepted: its claims, and what a deep-linking answer needs."""

    launch: Launch
    #: the platform's deep-linking settings (return URL, accepted types), for a deep-linking request
    deep_linking: dict[str, Any] | None


class LtiTool:
    """The app creates and owns one; `close` stops its executor."""

    def __init__(self, data_dir: Path, records: LtiRecords) -> None:
        self.data_dir = data_dir
        self.records = records
        self._executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="lti")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _config(self) -> ToolConfDict:
        return tool_config(read_platforms(self.data_dir), tool_key(self.data_dir))

    async def _parts(self, request: web.Request) -> LtiRequestParts:
        bridge = StoreBridge(self.records, asyncio.get_running_loop())
        return LtiRequestParts.make(await LtiRequest.of(request), bridge)

    def _require_known(self, issuer: str | None, client_id: str | None) -> None:
        """403 for an issuer (and client id, when given) no registration names; checked in the executor
        (it reads the file) before pylti1p3, which answers an unknown one with a bare exception."""
        if not issuer:
            raise ApiError(400, "LTI request without an issuer (iss)")
        if not any(p.issuer == issuer and client_id in (None, p.client_id) for p in read_platforms(self.data_dir)):
            raise ApiError(403, "unknown LTI platform: register its issuer and client id in "
                                "<data_dir>/lti/platforms.json", {"iss": issuer[:200], "client_id": (client_id or "")[:200]})

    # -- the three steps -------------------------------------------------------------------------
    async def login(self, request: web.Request, launch_url: str) -> web.Response:
        """OIDC login initiation: 302 to the platform's authorisation endpoint, with the state cookie."""
        parts = await self._parts(request)

        def work() -> str:
            self._require_known(parts.request.get_param("iss"), parts.request.get_param("client_id") or None)
            return parts.login(self._config()).redirect(launch_url)

        location = await self._run(_refusing(work))
        response = web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})
        parts.cookies.apply(response)
        return response

    async def validate(self, request: web.Request) -> tuple[ValidatedLaunch, LtiRequestParts]:
        """The launch's claims, once pylti1p3 has checked the state, nonce, signature and deployment."""
        parts = await self._parts(request)

        def work() -> ValidatedLaunch:
            self._require_known(*_unverified_platform(parts.request.get_param("id_token")))
            launch = parts.launch(self._config())
            body = launch.get_launch_data()  # validates (pylti1p3 raises LtiException on any failure)
            deep = body.get(DEEP_LINKING_SETTINGS) if launch.is_deep_link_launch() else None
            return ValidatedLaunch(Launch.of(body), dict(deep) if isinstance(deep, dict) else None)

        validated = await self._run(_refusing(work))
        if validated.launch.message_type not in (RESOURCE_LAUNCH, DEEP_LINKING):
            raise ApiError(400, "this LTI message type is not one Vigil takes",
                           {"message_type": validated.launch.message_type[:100]})
        return validated, parts

    async def deep_linking_form(self, validated: ValidatedLaunch, resource: DeepLinkResource) -> str:
        """The auto-submitting form that returns the signed deep-linking response to the platform."""
        launch, settings = validated.launch, validated.deep_linking or {}

        def work() -> str:
            config = self._config()
            registration = config.find_registration_by_params(launch.issuer, launch.client_id)
            return _deep_linking_jwt(registration, launch, settings, resource)

        signed = await self._run(_refusing(work))
        return_url = str(settings.get("deep_link_return_url") or "")
        if not return_url.startswith(("https://", "http://")):
            raise ApiError(400, "the deep-linking request has no return URL")
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vigil</title></head><body>'
                f'<form id="vigil-deep-link" action="{html.escape(return_url)}" method="post">'
                f'<input type="hidden" name="JWT" value="{html.escape(signed)}">'
                f'<noscript><button>Return to the course</button></noscript></form>'
                f'<script>document.getElementById("vigil-deep-link").submit()</script></body></html>')

    async def jwks(self) -> dict[str, Any]:
        """The tool's public key as a JWKS (the key made on first use)."""
        key = await self._run(lambda: tool_key(self.data_dir))
        return {"keys": [Registration.get_jwk(key.public_pem)]}

    @staticmethod
    def new_handoff_code() -> str:
        return secrets.token_urlsafe(24)


def _deep_linking_jwt(registration: Registration, launch: Launch, settings: dict[str, Any],
                      resource: DeepLinkResource) -> str:
    """pylti1p3's deep-linking message, signed with the tool's key (its kid in the header)."""
    deep_link = DeepLink(registration, launch.deployment_id, settings)  # type: ignore[arg-type]
    return str(deep_link.get_response_jwt([resource]))


def _unverified_platform(id_token: str | None) -> tuple[str | None, str]:
    """The `iss` and client id (`aud`) of an id_token before anything is verified: only to pick the
    registration, or refuse an unknown one."""
    if not id_token:
        raise ApiError(400, "LTI launch without an id_token")
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ApiError(401, "LTI launch refused: the id_token is not a JWT") from None
    launch = Launch.of(claims)
    return launch.issuer or None, launch.client_id


def _refusing(work: Callable[[], T]) -> Callable[[], T]:
    """pylti1p3's refusals as 401s naming the reason (its messages say what failed, never a secret)."""
    def run() -> T:
        try:
            return work()
        except (LtiException, OIDCException) as exc:
            raise ApiError(401, f"LTI launch refused: {exc}") from None
    return run


