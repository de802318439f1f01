"""Ephemeral TURN credentials (the "TURN REST API", coturn's `use-auth-secret`).

Vigil and coturn share one secret (`VIGIL_TURN_SECRET` here, `static-auth-secret` in coturn) and never
talk to each other. For each session Vigil mints a credential pair that coturn can check on its own:

    username   = f"{expiry}:{session_id}"        expiry: UNIX seconds, int(now + ttl)
    credential = base64(HMAC-SHA1(secret, username))

coturn recomputes the HMAC from the username it receives and refuses the allocation once `expiry` is
in the past, so a leaked credential is only good for `VIGIL_TURN_TTL` seconds and names the session it
was issued to (coturn logs the username). See draft-uberti-behave-turn-rest-00 and turn/README.md.

Pure functions: the clock is passed in (`now`), nothing here reads the environment or does I/O.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import NotRequired, TypedDict

from server.core.config import Settings

#: coturn's default `rest-api-separator`; the timestamp is what precedes its first occurrence.
REST_API_SEPARATOR = ":"


class IceServer(TypedDict):
    """One W3C `RTCIceServer` dictionary, as handed to the browser's `RTCPeerConnection`."""

    urls: list[str]
    username: NotRequired[str]
    credential: NotRequired[str]


def turn_credentials(secret: str, session_id: str, ttl: int, now: float) -> tuple[str, str]:
    """Return `(username, credential)` valid until `int(now + ttl)` for coturn's `use-auth-secret`."""
    if not secret:
        raise ValueError("TURN secret must not be empty")
    if not session_id:
        raise ValueError("session_id must not be empty")
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, not {ttl!r}")
    expiry = int(now + ttl)
    username = f"{expiry}{REST_API_SEPARATOR}{session_id}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(settings: Settings, session_id: str, now: float) -> list[IceServer]:
    """The `ice_servers` of `POST /api/sessions`: TURN with fresh credentials first, then STUN.

    TURN is offered only when both `VIGIL_TURN_SECRET` and `VIGIL_TURN_URLS` are set (a TURN URL without
    credentials is useless to a browser); STUN URLs need no credentials. Nothing configured: `[]`, and
    peers rely on host candidates, which is fine on a LAN or loopback.
    """
    servers: list[IceServer] = []
    if settings.turn_secret and settings.turn_urls:
        username, credential = turn_credentials(settings.turn_secret.get_secret_value(), session_id, settings.turn_ttl, now)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    return servers
