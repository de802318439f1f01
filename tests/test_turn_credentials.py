"""Ephemeral TURN credentials follow the TURN REST API that coturn's `use-auth-secret` checks."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from server.core.config import Settings
from server.rtc.turn import ice_servers, turn_credentials

SECRET = "vigil-test-secret"
SESSION = "sess-42"
NOW = 1_700_000_000.9
TTL = 3600
# Derived once, outside Python:
#   printf '%s' '1700003600:sess-42' | openssl dgst -sha1 -hmac 'vigil-test-secret' -binary | base64
EXPECTED_USERNAME = "1700003600:sess-42"
EXPECTED_CREDENTIAL = "HBL1eB4zO3k2ONM0X7DBoPcQ5p8="


def test_known_vector() -> None:
    assert turn_credentials(SECRET, SESSION, TTL, NOW) == (EXPECTED_USERNAME, EXPECTED_CREDENTIAL)


def test_credential_is_base64_hmac_sha1_of_the_username() -> None:
    username, credential = turn_credentials(SECRET, SESSION, TTL, NOW)
    expected = base64.b64encode(hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()).decode()
    assert credential == expected
    assert len(base64.b64decode(credential)) == 20  # SHA-1 digest size


def test_username_is_integer_expiry_then_session() -> None:
    username, _ = turn_credentials(SECRET, "abc:def", 60, 100.99)
    # int(now + ttl), not int(now) + ttl; the first ':' ends the timestamp, as coturn parses it.
    assert username == "160:abc:def"


@pytest.mark.parametrize(
    ("secret", "session_id", "ttl"), [("", SESSION, TTL), (SECRET, "", TTL), (SECRET, SESSION, 0)]
)
def test_rejects_unusable_input(secret: str, session_id: str, ttl: int) -> None:
    with pytest.raises(ValueError):
        turn_credentials(secret, session_id, ttl, NOW)


def test_different_secret_or_expiry_gives_different_credential() -> None:
    base = turn_credentials(SECRET, SESSION, TTL, NOW)
    assert turn_credentials(SECRET + "x", SESSION, TTL, NOW)[1] != base[1]
    assert turn_credentials(SECRET, SESSION, TTL + 1, NOW) != base


def test_ice_servers_empty_when_nothing_configured() -> None:
    assert ice_servers(Settings(), SESSION, NOW) == []


def test_ice_servers_turn_needs_both_secret_and_urls() -> None:
    assert ice_servers(Settings(turn_secret=SECRET), SESSION, NOW) == []
    assert ice_servers(Settings(turn_urls=("turn:turn.example.org:3478",)), SESSION, NOW) == []


def test_ice_servers_turn_and_stun_from_env() -> None:
    settings = Settings.from_env(
        {
            "VIGIL_TURN_SECRET": SECRET,
            "VIGIL_TURN_URLS": (
                "turn:turn.example.org:3478?transport=udp, turn:turn.example.org:3478?transport=tcp"
            ),
            "VIGIL_TURN_TTL": str(TTL),
            "VIGIL_STUN_URLS": "stun:stun.example.org:3478",
        }
    )
    assert ice_servers(settings, SESSION, NOW) == [
        {
            "urls": ["turn:turn.example.org:3478?transport=udp", "turn:turn.example.org:3478?transport=tcp"],
            "username": EXPECTED_USERNAME,
            "credential": EXPECTED_CREDENTIAL,
        },
        {"urls": ["stun:stun.example.org:3478"]},
    ]


def test_ice_servers_stun_only_has_no_credentials() -> None:
    servers = ice_servers(Settings(stun_urls=("stun:stun.example.org:3478",)), SESSION, NOW)
    assert servers == [{"urls": ["stun:stun.example.org:3478"]}]


def test_ice_servers_accepted_by_aiortc() -> None:
    aiortc = pytest.importorskip("aiortc")
    settings = Settings(
        turn_secret=SECRET, turn_urls=("turn:127.0.0.1:3478",), stun_urls=("stun:127.0.0.1:3478",)
    )
    servers = ice_servers(settings, SESSION, NOW)
    config = aiortc.RTCConfiguration(iceServers=[aiortc.RTCIceServer(**s) for s in servers])
    assert config.iceServers is not None and config.iceServers[0].username == EXPECTED_USERNAME
