"""The `vigil` command as an operator meets it: subprocesses, real models, a real Valkey and coturn.

Bad settings end in one clear line and exit 2 (never a traceback), `serve --help` lists the
environment, `--version` answers, and `vigil doctor` prints a pass/fail table of models, policy, Redis, TURN and the browser.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from server.core.config import setting_docs
from tests.conftest import free_port
from tests.turn_helpers import start_coturn, turnserver_path

REPO = Path(__file__).resolve().parents[1]
TURN_SECRET = "vigil-doctor-test-secret-0123456789"


def vigil(*args: str, env: dict[str, str], data_dir: Path, timeout: float = 120,
          cwd: Path = REPO, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`vigil ARGS` from this tree, in an environment holding only `env` of Vigil's settings, with
    `stdin` piped in (never a terminal, as in a script or CI)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_") and k != "REDIS_URL"}
    full = {**base, "VIGIL_DATA_DIR": str(data_dir), "COLUMNS": "200", "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=timeout, input=stdin)


def assert_one_clear_line(run: subprocess.CompletedProcess[str], message: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(
        ("vigil: ", "vigil serve: ", "vigil eval: ", "vigil loadtest: ")), run.stderr


@pytest.mark.parametrize(("env", "args", "message"), [
    ({"VIGIL_PORT": "70000"}, ("serve",), "VIGIL_PORT must be between 1 and 65535, not '70000'"),
    ({"VIGIL_LOG_LEVEL": "LOUD"}, ("serve",), "VIGIL_LOG_LEVEL must be one of DEBUG"),
    ({"VIGIL_ANALYSIS_FPS": "fast"}, ("serve",), "VIGIL_ANALYSIS_FPS must be a number, not 'fast'"),
    ({"VIGIL_OBJECT_DETECTOR": "yolov8"}, ("serve",),
     "VIGIL_OBJECT_DETECTOR must be one of yolox, yolox-whole, nanodet, not 'yolov8'"),
    ({"VIGIL_ENV": "bogus"}, ("user", "add", "--email", "a@b.org", "--role", "admin"), "VIGIL_ENV must be"),
    ({"REDIS_URL": "http://example.org"}, ("doctor",), "REDIS_URL must be a redis/rediss/unix URL"),
    ({"VIGIL_ENV": "production"}, ("serve",), "VIGIL_JWT_SECRET is required when VIGIL_ENV=production"),
    ({}, ("serve", "--port", "0"), "argument --port: must be between 1 and 65535, not '0'"),
    ({"VIGIL_JWT_SECRET_FILE": "/nonexistent/jwt"}, ("serve",),
     "VIGIL_JWT_SECRET_FILE: cannot read /nonexistent/jwt: No such file or directory"),
    ({"VIGIL_TURN_SECRET": "a", "VIGIL_TURN_SECRET_FILE": "/etc/hostname"}, ("doctor",),
     "set VIGIL_TURN_SECRET or VIGIL_TURN_SECRET_FILE, not both"),
    ({"VIGIL_ENV": "production", "VIGIL_JWT_SECRET": "short"}, ("serve",), "VIGIL_JWT_SECRET must be at least 16"),
    ({"VIGIL_POLICY": "/nonexistent.toml"}, ("serve",),
     "cannot read VIGIL_POLICY /nonexistent.toml: No such file or directory"),
    ({"VIGIL_POLICY": str(REPO / "pyproject.toml")}, ("serve",), "pyproject.toml: policy key 'build-system': unknown key"),
    ({"VIGIL_DATA_DIR": "/proc/nope"}, ("serve",), "cannot create VIGIL_DATA_DIR /proc/nope"),
    ({"VIGIL_DATA_DIR": "/proc/nope"}, ("user", "add", "--email", "a@b.org", "--role", "admin"),
     "cannot create VIGIL_DATA_DIR /proc/nope"),
    ({"VIGIL_DATA_DIR": "/proc/nope"}, ("doctor",), "cannot create VIGIL_DATA_DIR /proc/nope"),
    ({}, ("serve", "--workers", "0"), "argument --workers: must be between 1 and 64, not 0"),
    ({}, ("serve", "--workers", "65"), "argument --workers: must be between 1 and 64, not 65"),
])
def test_a_bad_setting_is_one_clear_line_and_exit_2(env: dict[str, str], args: tuple[str, ...], message: str,
                                                   tmp_path: Path) -> None:
    run = vigil(*args, env={**env, "VIGIL_USER_PASSWORD": "long enough password"}, data_dir=tmp_path, timeout=30)
    assert_one_clear_line(run, message)


USER_ADD = ("user", "add", "--email", "a@b.org", "--role", "proctor")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (USER_ADD, "", "no password: stdin is not a terminal to prompt on; pipe it with --password-stdin"),
    (USER_ADD, "piped password\n", "no password: stdin is not a terminal to prompt on"),
    ((*USER_ADD, "--password-stdin"), "", "--password-stdin: stdin gave no password"),
    (("serve", "--workers", "0"), "", "argument --workers: must be between 1 and 64, not 0"),
    (("eval", "--gaze", "{tmp}"), "", "Is a directory"),
    (("eval", "--gaze", "{tmp}/gaze.csv", "--fps", "0"), "", "argument --fps: expected a number above 0, got '0'"),
    (("loadtest", "--url", "http://127.0.0.1:9", "--clients", "1", "--duration", "1", "--video", "/etc/hostname"),
     "", "/etc/hostname is not a media file PyAV can open"),
    (("loadtest", "--url", "localhost:8080", "--clients", "1", "--duration", "1", "--video", "/etc/hostname"),
     "", "--url must be the server's http(s) base URL, e.g. http://127.0.0.1:8080, not 'localhost:8080'"),
])
def test_bad_input_is_one_clear_line_and_exit_2(args: tuple[str, ...], stdin: str, message: str,
                                                 tmp_path: Path) -> None:
    run = vigil(*(a.replace("{tmp}", str(tmp_path)) for a in args), env={}, data_dir=tmp_path, stdin=stdin,
                timeout=120)
    assert_one_clear_line(run, message)


def test_user_add_reads_a_piped_password_with_password_stdin(valkey_url: str, tmp_path: Path) -> None:
    email = f"piped-{os.getpid()}-{free_port()}@example.org"
    run = vigil(*USER_ADD[:2], "--email", email, "--role", "proctor", "--password-stdin", env={"REDIS_URL": valkey_url},
                data_dir=tmp_path, stdin="a piped long password\n", timeout=60)
    assert run.returncode == 0 and f"created proctor {email}" in run.stdout, run.stderr


def test_serve_on_a_taken_port_or_an_unusable_data_dir_says_so_before_loading(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        run = vigil("serve", "--port", str(port), env={}, data_dir=tmp_path, timeout=30)
    assert_one_clear_line(run, f"port {port} is in use (--port / VIGIL_PORT)")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    run = vigil("apikey", "list", env={}, data_dir=a_file / "data", timeout=30)
    assert_one_clear_line(run, f"cannot create VIGIL_DATA_DIR {a_file / 'data'}: Not a directory")
    run = vigil("serve", env={}, data_dir=a_file / "data", timeout=30)
    assert_one_clear_line(run, f"cannot create VIGIL_DATA_DIR {a_file / 'data'}: Not a directory")


def test_a_bad_dotenv_line_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VIGIL_HOST=0.0.0.0\nthis is not a setting\n")
    run = vigil("serve", env={}, data_dir=tmp_path, cwd=tmp_path, timeout=30)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "vigil: bad setting: .env line 2: expected NAME=value, not 'this is not a setting'" in run.stderr


def test_dotenv_is_read_under_the_environment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VIGIL_PORT=70001\nVIGIL_LOG_LEVEL=LOUD\n")
    run = vigil("serve", env={"VIGIL_LOG_LEVEL": "INFO"}, data_dir=tmp_path, cwd=tmp_path, timeout=30)
    assert run.returncode == 2 and "VIGIL_PORT must be between 1 and 65535, not '70001'" in run.stderr
    assert "VIGIL_LOG_LEVEL" not in run.stderr, run.stderr  # the environment's INFO wins over the file's


def test_serve_on_a_port_in_use_says_so_before_anything_loads(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = vigil("serve", "--port", str(port), env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
                    data_dir=tmp_path, timeout=30)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    # the port is told, not the unreachable Redis: nothing was reached for before the bind
    assert run.stderr.strip() == f"vigil: port {port} is in use (--port / VIGIL_PORT)", run.stderr


def test_user_add_with_an_unreachable_redis_says_so(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    run = vigil("user", "add", "--email", "a@b.org", "--role", "admin", data_dir=tmp_path, timeout=30,
                env={"REDIS_URL": url, "VIGIL_USER_PASSWORD": "long enough password"})
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "cannot reach Redis at redis://:***@127.0.0.1" in run.stderr and "hunter2" not in run.stderr


def test_serve_help_describes_the_command_and_every_setting(tmp_path: Path) -> None:
    run = vigil("serve", "--help", env={}, data_dir=tmp_path, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "Serve the exam page" in run.stdout and "environment variables" in run.stdout
    missing = [doc.variable for doc in setting_docs() if doc.variable not in run.stdout]
    assert not missing, missing
    assert "VIGIL_JWT_SECRET_FILE" in run.stdout and ".env" in run.stdout
    assert "VIGIL_PORT" in run.stdout and "1 to 65535" in run.stdout


@pytest.mark.parametrize("command", [("user",), ("user", "add"), ("apikey",), ("token",)])
def test_store_commands_describe_themselves_and_their_environment(command: tuple[str, ...], tmp_path: Path) -> None:
    run = vigil(*command, "--help", env={}, data_dir=tmp_path, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "written straight to Redis" in run.stdout or "signed with the server's secret" in run.stdout \
        or "Create an account" in run.stdout, run.stdout
    assert all(name in run.stdout for name in ("REDIS_URL", "VIGIL_DATA_DIR", "VIGIL_ENV", "VIGIL_JWT_SECRET"))


def test_version(tmp_path: Path) -> None:
    run = vigil("--version", env={}, data_dir=tmp_path, timeout=30)
    assert (run.returncode, run.stdout.strip()) == (0, f"vigil {version('vigil')}")


def _rows(table: str) -> dict[str, str]:
    """check name -> result, from the doctor's table."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 3 and cells[1] in ("pass", "FAIL", "skip"):
            rows[cells[0]] = cells[1]
    return rows


def test_doctor_passes_on_a_working_install_and_names_what_fails(valkey_url: str, tmp_path: Path) -> None:
    run = vigil("doctor", env={"REDIS_URL": valkey_url}, data_dir=tmp_path)
    rows = _rows(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert rows["redis"] == "pass" and rows["turn"] == "skip" and rows["policy"] == "pass", rows
    assert {"model faces", "model landmarks", "model objects", "model vad"} <= set(rows)
    assert set(rows.values()) <= {"pass", "skip"}
    # Chromium opened a page and found RTCPeerConnection, getUserMedia, RTCDataChannel and screen.isExtended
    assert rows["browser"] == ("pass" if shutil.which("chromium") else "skip"), run.stdout

    run = vigil("doctor", env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "VIGIL_POLICY": "/nonexistent.toml"},
                data_dir=tmp_path)
    rows = _rows(run.stdout)
    assert run.returncode == 1 and rows["redis"] == "FAIL" and rows["policy"] == "FAIL", run.stdout
    assert "cannot read VIGIL_POLICY /nonexistent.toml" in run.stdout


@pytest.mark.skipif(turnserver_path() is None, reason="coturn's turnserver is not installed (apt-get install coturn)")
def test_doctor_allocates_a_turn_relay_with_vigils_credentials(valkey_url: str, tmp_path: Path) -> None:
    with start_coturn(tmp_path, TURN_SECRET) as (turn_url, _proc):
        env = {"REDIS_URL": valkey_url, "VIGIL_TURN_URLS": turn_url + "?transport=udp"}
        run = vigil("doctor", env={**env, "VIGIL_TURN_SECRET": TURN_SECRET}, data_dir=tmp_path)
        turn_row = f"turn {turn_url}?transport=udp"
        assert run.returncode == 0 and _rows(run.stdout)[turn_row] == "pass", run.stdout
        run = vigil("doctor", env={**env, "VIGIL_TURN_SECRET": "not-coturns-secret"}, data_dir=tmp_path)
        assert run.returncode == 1 and _rows(run.stdout)[turn_row] == "FAIL", run.stdout
        assert "401" in run.stdout
