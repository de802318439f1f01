"""Settings declared once (`server.core.config.Settings`): bad values refused in plain words naming the
variable, `.env` under the environment, `*_FILE` secrets, and the README's table in step with the
declarations. The CLI's side (one line, exit 2) is in tests/test_cli.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from server.core.config import Settings, SettingsError, setting_docs, settings_table

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("env", "message"), [
    ({"VIGIL_PORT": "70000"}, "VIGIL_PORT must be between 1 and 65535, not '70000'"),
    ({"VIGIL_PORT": "0"}, "VIGIL_PORT must be between 1 and 65535, not '0'"),
    ({"VIGIL_PORT": "http"}, "VIGIL_PORT must be an integer, not 'http'"),
    ({"VIGIL_ANALYSIS_FPS": "fast"}, "VIGIL_ANALYSIS_FPS must be a number, not 'fast'"),
    ({"VIGIL_ANALYSIS_FPS": "0"}, "VIGIL_ANALYSIS_FPS must be between 0.1 and 60, not '0'"),
    ({"VIGIL_VIDEO_MAX_KBPS": "-5"}, "VIGIL_VIDEO_MAX_KBPS must be between 30 and 50000, not '-5'"),
    ({"VIGIL_CREATED_TTL": "soon"}, "VIGIL_CREATED_TTL must be a number, not 'soon'"),
    ({"VIGIL_MAX_BODY_BYTES": "1"}, "VIGIL_MAX_BODY_BYTES must be between 1024 and 67108864, not '1'"),
    ({"VIGIL_LOG_LEVEL": "LOUD"}, "VIGIL_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'LOUD'"),
    ({"VIGIL_ENV": "bogus"}, "VIGIL_ENV must be one of dev, production, not 'bogus'"),
    ({"VIGIL_OBJECT_DETECTOR": "YOLOX"}, "VIGIL_OBJECT_DETECTOR must be one of yolox, yolox-whole, nanodet, not 'YOLOX'"),
    ({"VIGIL_WS_BASELINE": "maybe"}, "VIGIL_WS_BASELINE must be on or off, not 'maybe'"),
    ({"REDIS_URL": "http://example.org"}, "REDIS_URL must be a redis/rediss/unix URL"),
    ({"VIGIL_LEGACY_APIS": "interview,seed"}, "VIGIL_LEGACY_APIS names unknown APIs: seed"),
    ({"VIGIL_ADMIN_EMAIL": "a@b.org"}, "VIGIL_ADMIN_EMAIL and VIGIL_ADMIN_PASSWORD_FILE must be set together"),
    ({"VIGIL_METRICS_TOKEN_FILE": "/nonexistent/token"},
     "VIGIL_METRICS_TOKEN_FILE: cannot read /nonexistent/token: No such file or directory"),
])
def test_a_bad_value_is_refused_naming_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value) and "pydantic" not in str(refused.value)


def test_every_error_is_told_at_once() -> None:
    with pytest.raises(SettingsError, match="VIGIL_PORT .*; VIGIL_LOG_LEVEL "):
        Settings.from_env({"VIGIL_PORT": "70000", "VIGIL_LOG_LEVEL": "LOUD"})


def test_values_are_typed_and_empty_means_unset() -> None:
    settings = Settings.from_env({"VIGIL_PORT": "9000", "VIGIL_ANALYSIS_FPS": "2.5", "VIGIL_LOG_LEVEL": "debug",
                                  "VIGIL_TURN_URLS": "turn:a:3478, turn:b:3478", "VIGIL_HOST": "",
                                  "VIGIL_WS_BASELINE": "off", "VIGIL_POLICY": "p.toml", "VIGIL_CREATED_TTL": "30"})
    assert (settings.port, settings.analysis_fps, settings.log_level) == (9000, 2.5, "DEBUG")
    assert settings.turn_urls == ("turn:a:3478", "turn:b:3478") and settings.host == "127.0.0.1"
    assert settings.ws_baseline is False and settings.policy_path == Path("p.toml") and settings.created_ttl_s == 30
    assert Settings.from_env({}) == Settings()


def test_settings_built_in_code_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_PORT", "9999")
    assert Settings().port == 8080 and Settings.from_env({}).port == 8080
    assert Settings.from_env(dotenv=Path("/nonexistent/.env")).port == 9999


def test_secrets_come_from_files_and_never_print(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("a-long-enough-jwt-secret\n")
    settings = Settings.from_env({"VIGIL_JWT_SECRET_FILE": str(tmp_path / "jwt"), "VIGIL_TURN_SECRET": "turn-secret"})
    assert settings.jwt_secret and settings.jwt_secret.get_secret_value() == "a-long-enough-jwt-secret"
    assert settings.turn_secret and settings.turn_secret.get_secret_value() == "turn-secret"
    assert "a-long-enough" not in repr(settings) and "turn-secret" not in repr(settings)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="VIGIL_JWT_SECRET_FILE: .*empty is empty"):
        Settings.from_env({"VIGIL_JWT_SECRET_FILE": str(tmp_path / "empty")})
    with pytest.raises(SettingsError, match="set VIGIL_JWT_SECRET or VIGIL_JWT_SECRET_FILE, not both"):
        Settings.from_env({"VIGIL_JWT_SECRET": "x" * 20, "VIGIL_JWT_SECRET_FILE": str(tmp_path / "jwt")})


def test_dotenv_lies_under_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nVIGIL_PORT=9001\nexport VIGIL_HOST=0.0.0.0\nREDIS_URL='redis://h:6379/0'\n")
    monkeypatch.setenv("VIGIL_PORT", "9002")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("VIGIL_HOST", raising=False)
    settings = Settings.from_env(dotenv=dotenv)
    assert (settings.port, settings.host, settings.redis_url) == (9002, "0.0.0.0", "redis://h:6379/0")
    dotenv.write_text("VIGIL_PORT=9001\nnot a line\n")
    with pytest.raises(SettingsError, match=r"\.env line 2: expected NAME=value, not 'not a line'"):
        Settings.from_env(dotenv=dotenv)


def test_overrides_are_validated_like_the_environment() -> None:
    assert Settings().with_overrides(port=9000, host="0.0.0.0").port == 9000
    with pytest.raises(SettingsError, match="VIGIL_PORT must be between 1 and 65535"):
        Settings().with_overrides(port=70000)


def test_the_readme_table_is_the_declarations() -> None:
    readme = (REPO / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is stale: paste `python -m server.core.config`"
    assert len(list(setting_docs())) == len(Settings.model_fields)
    assert {d.variable for d in setting_docs() if d.secret} == {
        "VIGIL_JWT_SECRET", "VIGIL_TURN_SECRET", "VIGIL_METRICS_TOKEN"}
