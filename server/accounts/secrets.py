"""The signing secret: VIGIL_JWT_SECRET, or (dev only) one generated once and kept in the data dir."""
from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path

from server.core.config import Settings

MIN_SECRET_LEN = 16


def signing_secret(settings: Settings) -> str:
    if settings.jwt_secret:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret) < MIN_SECRET_LEN:
            raise ValueError(f"VIGIL_JWT_SECRET must be at least {MIN_SECRET_LEN} characters")
        return secret
    if settings.env == "production":
        raise ValueError("VIGIL_JWT_SECRET is required when VIGIL_ENV=production")
    path = Path(settings.data_dir) / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = _secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
