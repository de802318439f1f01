"""The LTI tool's registrations and its key, both in `<data_dir>/lti/`.

`platforms.json` lists the LMS registrations (docs/lti.md): a list, or `{"platforms": [...]}`, of

    {"issuer", "client_id", "deployment_ids": [...], "auth_login_url", "auth_token_url",
     "key_set_url" (the platform's JWKS) or "key_set" (the JWKS itself), "auth_audience"?}

It is read on every launch (a few hundred bytes, in the tool's executor): adding a platform needs no
restart, and every worker sees the same file. The tool's RSA key (`private.pem`, `public.pem`) signs
deep-linking responses and is published at `/lti/jwks`; it is made on first use, once: workers racing
to make it link their file into place with O_EXCL semantics and the loser reads the winner's.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pylti1p3.tool_config import ToolConfDict

from server.protocol.errors import ApiError

PLATFORMS_FILE = "platforms.json"
PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
KEY_BITS = 2048


class Platform(BaseModel):
    """One LMS registration of the tool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, Field(min_length=1)]
    deployment_ids: Annotated[list[str], Field(min_length=1)]
    auth_login_url: Annotated[str, Field(pattern=r"^https?://")]
    auth_token_url: Annotated[str, Field(pattern=r"^https?://")]
    key_set_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    key_set: dict[str, Any] | None = None
    auth_audience: str | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> Platform:
        if (self.key_set_url is None) == (self.key_set is None):
            raise ValueError("give the platform's key_set_url or its key_set, one of the two")
        return self


_PLATFORMS = TypeAdapter(list[Platform])


@dataclass(frozen=True)
class ToolKey:
    private_pem: str
    public_pem: str


def lti_dir(data_dir: Path) -> Path:
    return data_dir / "lti"


def read_platforms(data_dir: Path) -> list[Platform]:
    """The registrations in `<data_dir>/lti/platforms.json`; none when there is no file; 500 when it
    is broken (an operator's mistake the log and the answer name)."""
    path = lti_dir(data_dir) / PLATFORMS_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ApiError(500, f"{path} cannot be read: {exc}") from None
    try:
        return _PLATFORMS.validate_python(raw.get("platforms") if isinstance(raw, dict) else raw)
    except ValidationError as exc:
        raise ApiError(500, f"{path} is not a list of LTI platforms: {exc.errors()[0]['msg']}") from None


def _write_once(path: Path, content: bytes) -> None:
    """Write `path` unless it exists; never a half-written file (a temp file linked into place)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker made it first: theirs is the key
    finally:
        os.unlink(tmp)


def tool_key(data_dir: Path) -> ToolKey:
    """The tool's RSA key pair, made on first use."""
    folder = lti_dir(data_dir)
    private, public = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if not private.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        _write_once(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    private_pem = private.read_text()
    if not public.is_file():
        loaded = serialization.load_pem_private_key(private_pem.encode(), password=None)
        _write_once(public, loaded.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    return ToolKey(private_pem, public.read_text())


def tool_config(platforms: Sequence[Platform], key: ToolKey) -> ToolConfDict:
    """pylti1p3's configuration: every issuer with its clients (the first the default), all with the tool's key."""
    by_issuer: dict[str, list[dict[str, Any]]] = {}
    for p in platforms:
        clients = by_issuer.setdefault(p.issuer, [])
        clients.append({"default": not clients, "client_id": p.client_id, "auth_login_url": p.auth_login_url,
                        "auth_token_url": p.auth_token_url, "auth_audience": p.auth_audience,
                        "key_set_url": p.key_set_url, "key_set": p.key_set, "deployment_ids": p.deployment_ids})
    conf = ToolConfDict(by_issuer)  # type: ignore[arg-type]
    for p in platforms:
        conf.set_private_key(p.issuer, key.private_pem, client_id=p.client_id)
        conf.set_public_key(p.issuer, key.public_pem, client_id=p.client_id)
    return conf
