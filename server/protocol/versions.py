"""The data channel's protocol version (docs/data-channel.md, "Versions and hello").

Every message carries it as `v`, both ways. A client names the major versions it speaks in its
`hello`; the server answers `welcome` with the one chosen, or `error` when it speaks none of them. A
client that sends no hello (an older page) gets the same messages, in `DC_VERSION`. Bump it only when
a message's meaning changes so that an old client would misread it; a new message type or a new key
is not such a change (clients ignore what they do not know).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

#: the version this server speaks and sends as `v`
DC_VERSION = 1
#: every major version this server can answer a hello in
SUPPORTED_VERSIONS: tuple[int, ...] = (DC_VERSION,)



def _this_version(v: int) -> int:
    if v != DC_VERSION:
        raise ValueError(f"version {v}, this server speaks {DC_VERSION}")
    return v


#: the `v` key of an outbound model: always `DC_VERSION`
Version = Annotated[int, Field(json_schema_extra={"const": DC_VERSION}), AfterValidator(_this_version)]


def versioned(message: dict[str, Any]) -> dict[str, Any]:
    """`message` with `v` right after `type` (the analysis builder puts it there itself)."""
    if "v" in message:
        return message
    return {"type": message["type"], "v": DC_VERSION, **message}


def chosen_version(offered: list[int]) -> int | None:
    """The highest version both sides speak, or None."""
    common = set(offered) & set(SUPPORTED_VERSIONS)
    return max(common) if common else None
