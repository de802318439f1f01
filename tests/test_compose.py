"""docker-compose.yml, the Dockerfile and turn/turnserver.conf agree with each other and with the code.

No Docker engine runs in CI, so these read the files: each check compares two sides that are easy to
change one at a time (a port, a setting name, a relay range, an install step) and fails when they drift.
Compose variable interpolation (`${VAR:?msg}`, `${VAR:-default}`, `$$`) is applied here with sample
values, as `docker compose config` would.
"""
from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp.web import RouteDef
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from server.core.config import Settings, setting_docs

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
TURN_CONF = REPO / "turn" / "turnserver.conf"

#: What an operator puts in .env (docker-compose.yml's header lists these).
DEPLOY_ENV = {
    "VIGIL_JWT_SECRET": "jwt-secret-from-env",
    "VIGIL_TURN_SECRET": "0123456789abcdef0123456789abcdef",
    "TURN_HOST": "turn.example.org",
    "TURN_EXTERNAL_IP": "203.0.113.10",
}
#: Variables the vigil service may set that are not Vigil settings (Python/runtime conventions).
STANDARD_ENV = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "TZ", "GLOG_minloglevel"}
#: Deployment secrets compose must refuse to start without (`${VAR:?...}`), never default.
REQUIRED_SECRETS = {"VIGIL_JWT_SECRET", "VIGIL_TURN_SECRET"}
#: the probes (server/http/routes/health.py): a container healthcheck asks liveness only
LIVENESS, READINESS = "/livez", "/readyz"

_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[?-])(?P<arg>[^}]*))?\}")


class MissingVariable(KeyError):
    pass


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution, applied to every string in a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = env.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return current or ""

    if re.search(r"\$(?!\$|\{)", _INTERPOLATION.sub("", value)):
        raise ValueError(f"bare $ in {value!r}: write $$ or ${{NAME}}")
    return _INTERPOLATION.sub(sub, value)


def env_dict(environment: Any) -> dict[str, str]:
    """Compose accepts `environment` as a mapping or a list of NAME=value."""
    if isinstance(environment, dict):
        return {k: "" if v is None else str(v) for k, v in environment.items()}
    return dict(item.split("=", 1) for item in environment or [])


def as_argv(command: Any) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(command)


def option(argv: list[str], name: str) -> str | None:
    """Value of `--name V` or `--name=V` in an argv."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def turn_conf() -> dict[str, list[str]]:
    """coturn's `key[=value]` lines, comments skipped; options may repeat."""
    conf: dict[str, list[str]] = {}
    for line in TURN_CONF.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        conf.setdefault(key.strip(), []).append(value.strip())
    return conf


def conf_int(conf: dict[str, list[str]], key: str) -> int:
    assert key in conf, f"{key} missing from {TURN_CONF}"
    assert len(conf[key]) == 1, f"{key} set more than once in {TURN_CONF}"
    return int(conf[key][0])


def dockerfile_instructions() -> list[tuple[str, str]]:
    """`(INSTRUCTION, arguments)` with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        result.append((instruction.upper(), args.strip()))
    return result


def exec_form(args: str) -> list[str]:
    return list(yaml.safe_load(args)) if args.startswith("[") else shlex.split(args)


def parse_port_mapping(spec: Any) -> tuple[str | None, str, str, str]:
    """Short-syntax `[ip:]published:target[/proto]` -> (ip, published, target, proto)."""
    text = str(spec)
    text, _, proto = text.partition("/")
    parts = text.rsplit(":", 2) if text.count(":") >= 2 else [None, *text.split(":")]
    if len(parts) == 2:  # "target" only
        parts = [None, parts[1], parts[1]]
    ip, published, target = parts
    return ip, published, target, proto or "tcp"


def port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw_compose, DEPLOY_ENV)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def vigil_env(services: dict[str, Any]) -> dict[str, str]:
    return env_dict(services["vigil"].get("environment"))


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_services_exist(services: dict[str, Any]) -> None:
    assert {"vigil", "valkey", "coturn"} <= set(services)
    assert services["vigil"]["build"]["context"] == "."
    assert (REPO / services["vigil"]["build"].get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert services["valkey"]["image"].startswith("valkey/valkey:8")
    assert services["coturn"]["image"].split(":")[0] == "coturn/coturn"


def test_vigil_environment_is_known_settings(vigil_env: dict[str, str]) -> None:
    declared = {doc.variable for doc in setting_docs()} | {f"{d.variable}_FILE" for d in setting_docs() if d.secret}
    unknown = set(vigil_env) - declared - STANDARD_ENV
    assert not unknown, f"not declared in server.core.config.Settings: {sorted(unknown)}"


def test_vigil_environment_is_a_valid_production_configuration(vigil_env: dict[str, str]) -> None:
    settings = Settings.from_env(vigil_env)  # raises on a malformed number or mode
    assert settings.env == "production"
    assert settings.jwt_secret and settings.jwt_secret.get_secret_value() == DEPLOY_ENV["VIGIL_JWT_SECRET"]
    assert settings.turn_secret and settings.turn_secret.get_secret_value() == DEPLOY_ENV["VIGIL_TURN_SECRET"]
    assert settings.turn_urls, "VIGIL_TURN_URLS is empty"
    assert all(DEPLOY_ENV["TURN_HOST"] in url for url in settings.turn_urls)


def test_secrets_are_required_not_defaulted(raw_compose: dict[str, Any]) -> None:
    raw_env = env_dict(raw_compose["services"]["vigil"]["environment"])
    for name in REQUIRED_SECRETS:
        assert re.fullmatch(r"\$\{" + name + r":\?[^}]*\}", raw_env[name]), f"{name} must be ${{{name}:?...}}"
        with pytest.raises(MissingVariable):
            interpolate(raw_compose, {k: v for k, v in DEPLOY_ENV.items() if k != name})


def test_vigil_port_matches_settings_command_and_healthcheck(services: dict[str, Any]) -> None:
    vigil = services["vigil"]
    argv = as_argv(vigil["command"])
    port = int(option(argv, "--port") or vigil["environment"].get("VIGIL_PORT") or Settings().port)
    assert port == Settings().port, "vigil's --port differs from server/core/config.py's default port"
    host = option(argv, "--host") or vigil["environment"].get("VIGIL_HOST")
    assert host == "0.0.0.0", "inside a container vigil must listen on all interfaces"

    assert probe_of(" ".join(as_argv(vigil["healthcheck"]["test"]))) == (port, LIVENESS)

    if vigil.get("network_mode") == "host":
        # Published ports are meaningless (and rejected by some engines) on the host network.
        assert "ports" not in vigil
    else:
        targets = {parse_port_mapping(p)[2] for p in vigil.get("ports", [])}
        assert str(port) in targets, f"vigil's port {port} is not published"


def test_redis_url_points_at_the_valkey_service(services: dict[str, Any], vigil_env: dict[str, str]) -> None:
    url = urlsplit(vigil_env["REDIS_URL"])
    assert url.scheme == "redis" and url.hostname == "valkey"
    valkey_argv = as_argv(services["valkey"].get("command", ["valkey-server"]))
    valkey_port = int(option(valkey_argv, "--port") or 6379)
    assert option(valkey_argv, "--appendonly") == "yes"

    if services["vigil"].get("network_mode") == "host":
        # Service names do not resolve on the host network: "valkey" must map to loopback, where the
        # valkey service publishes its port, and only there.
        assert "valkey:127.0.0.1" in services["vigil"].get("extra_hosts", [])
        published = [parse_port_mapping(p) for p in services["valkey"].get("ports", [])]
        matching = [p for p in published if p[2] == str(valkey_port)]
        assert matching, "valkey's port is not published for the host-networked vigil"
        ip, host_port, _, proto = matching[0]
        assert (ip, proto) == ("127.0.0.1", "tcp"), "publish Valkey on loopback only"
        assert url.port == int(host_port)
    else:
        assert url.port == valkey_port


def test_coturn_config_is_mounted_from_the_repo(services: dict[str, Any]) -> None:
    coturn = services["coturn"]
    mounts = [v.split(":") for v in coturn["volumes"] if isinstance(v, str)]
    conf_mounts = [(src, dst) for src, dst, *_ in mounts if src.endswith(".conf")]
    assert conf_mounts, "coturn mounts no config file"
    src, dst = conf_mounts[0]
    assert (REPO / src).resolve() == TURN_CONF and TURN_CONF.is_file()
    assert option(as_argv(coturn["command"]), "-c") == dst, "coturn is not started with the mounted config"


def test_coturn_and_vigil_share_the_turn_secret(raw_compose: dict[str, Any], compose: dict[str, Any]) -> None:
    conf = turn_conf()
    assert "use-auth-secret" in conf
    assert "static-auth-secret" not in conf, "the TURN secret must not be committed in turnserver.conf"
    raw_argv = as_argv(raw_compose["services"]["coturn"]["command"])
    assert re.fullmatch(r"\$\{VIGIL_TURN_SECRET:\?[^}]*\}", option(raw_argv, "--static-auth-secret") or "")
    argv = as_argv(compose["services"]["coturn"]["command"])
    assert option(argv, "--static-auth-secret") == env_dict(compose["services"]["vigil"]["environment"])[
        "VIGIL_TURN_SECRET"
    ]


def test_turn_urls_use_coturn_listening_ports(vigil_env: dict[str, str]) -> None:
    conf = turn_conf()
    listening = conf_int(conf, "listening-port")
    tls = conf_int(conf, "tls-listening-port")
    urls = Settings.from_env(vigil_env).turn_urls
    assert urls
    for url in urls:
        match = re.fullmatch(r"(turns?):([^:?]+):(\d+)(\?transport=(udp|tcp))?", url)
        assert match, f"malformed TURN URL {url!r}"
        expected = tls if match.group(1) == "turns" else listening
        assert int(match.group(3)) == expected, f"{url} does not use coturn's port {expected}"


def test_coturn_published_ports_match_turnserver_conf(services: dict[str, Any]) -> None:
    coturn = services["coturn"]
    if coturn.get("network_mode") == "host":
        assert "ports" not in coturn  # coturn binds the conf's ports on the host directly
        return
    conf = turn_conf()
    published = [parse_port_mapping(p) for p in coturn["ports"]]
    for _ip, host_side, container_side, _proto in published:
        assert port_range(host_side) == port_range(container_side), "coturn must keep its port numbers"
    by_proto = {(port_range(target), proto) for _ip, _h, target, proto in published}

    listening = conf_int(conf, "listening-port")
    assert ((listening, listening), "udp") in by_proto and ((listening, listening), "tcp") in by_proto
    tls = conf_int(conf, "tls-listening-port")
    assert ((tls, tls), "tcp") in by_proto

    relay = (conf_int(conf, "min-port"), conf_int(conf, "max-port"))
    udp_ranges = [r for r, proto in by_proto if proto == "udp" and r[0] != r[1]]
    assert udp_ranges == [relay], f"relay range published {udp_ranges}, turnserver.conf says {relay}"


def test_turnserver_conf_is_hardened() -> None:
    conf = turn_conf()
    for flag in ("fingerprint", "no-cli", "no-multicast-peers", "use-auth-secret"):
        assert flag in conf, flag
    assert "allow-loopback-peers" not in conf
    assert conf_int(conf, "stale-nonce") > 0
    denied = set(conf["denied-peer-ip"])
    for private in (
        "10.0.0.0-10.255.255.255",
        "172.16.0.0-172.31.255.255",
        "192.168.0.0-192.168.255.255",
        "169.254.0.0-169.254.255.255",
        "100.64.0.0-100.127.255.255",
        "127.0.0.0-127.255.255.255",
        "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ):
        assert private in denied, f"{private} is not a denied peer range"


def probe_of(command: str) -> tuple[int, str]:
    """(port, path) of the loopback URL a healthcheck command asks: a fixed port, or VIGIL_PORT's value
    with the port the image sets as its fallback."""
    from_setting = re.search(r"http://(?:127\.0\.0\.1|localhost):' \+ os\.environ\.get\('VIGIL_PORT', '(\d+)'\) \+ '"
                             r"(/[\w/]*)", command)
    match = from_setting or re.search(r"http://(?:127\.0\.0\.1|localhost):(\d+)(/[\w/]*)", command)
    assert match, f"no loopback URL in the healthcheck {command!r}"
    return int(match.group(1)), match.group(2)


def served_paths() -> set[str]:
    """GET paths of the probe routes, read from the code."""
    from server.http.routes.health import routes

    return {route.path for route in routes if isinstance(route, RouteDef) and route.method == "GET"}


def test_the_probes_the_deployment_asks_are_served() -> None:
    assert {LIVENESS, READINESS, "/health"} <= served_paths()


def test_dockerfile_healthcheck_asks_liveness_on_the_served_port() -> None:
    checks = [args for instr, args in dockerfile_instructions() if instr == "HEALTHCHECK"]
    assert len(checks) == 1, "the image declares no HEALTHCHECK"
    options, _, command = checks[0].partition("CMD ")
    assert exec_form(command)[0] == "python", "python:3.11-slim has no curl"
    # liveness, never /readyz or /health: those are 503 during a Redis blip and would get a worker restarted
    assert probe_of(command) == (Settings().port, LIVENESS)


def test_the_image_defaults_to_production() -> None:
    env: dict[str, str] = {}
    for instr, args in dockerfile_instructions():
        if instr == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    assert env.get("VIGIL_ENV") == "production", "`docker run` must not start in dev mode (demo exam, 0.0.0.0)"
    # the settings decide the address: CMD passes no --host/--port that would silently override VIGIL_PORT
    assert env.get("VIGIL_PORT") == str(Settings().port) and env.get("VIGIL_HOST") == "0.0.0.0"
    cmd = [exec_form(args) for instr, args in dockerfile_instructions() if instr == "CMD"][-1]
    assert option(cmd, "--port") is None and option(cmd, "--host") is None, cmd
    settings = Settings.from_env({**env, "VIGIL_JWT_SECRET": "from-the-operator"})
    assert settings.env == "production" and str(settings.data_dir) == "/data"


def test_healthchecks_and_startup_order(services: dict[str, Any]) -> None:
    vigil_check = as_argv(services["vigil"]["healthcheck"]["test"])
    assert vigil_check[0] == "CMD" and vigil_check[1] == "python", "python:3.11-slim has no curl"
    assert as_argv(services["valkey"]["healthcheck"]["test"]) == ["CMD", "valkey-cli", "ping"]
    assert services["vigil"]["depends_on"]["valkey"]["condition"] == "service_healthy"


def test_volumes_are_declared_and_hold_the_data_dirs(
    compose: dict[str, Any], vigil_env: dict[str, str]
) -> None:
    declared = set(compose.get("volumes") or {})
    mounts: dict[str, dict[str, str]] = {}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            src, dst, *_ = volume.split(":")
            if not src.startswith((".", "/")):
                assert src in declared, f"{name} uses undeclared volume {src}"
            mounts.setdefault(name, {})[dst] = src
    assert vigil_env["VIGIL_DATA_DIR"] in mounts["vigil"], "VIGIL_DATA_DIR is not on a volume"
    assert mounts["vigil"][vigil_env["VIGIL_DATA_DIR"]] in declared
    assert mounts["valkey"].get("/data") in declared, "Valkey's append-only file is not on a volume"


def test_dockerfile_runs_the_projects_console_script(
    services: dict[str, Any], pyproject: dict[str, Any]
) -> None:
    scripts = pyproject["project"]["scripts"]
    cmd = [exec_form(args) for instr, args in dockerfile_instructions() if instr == "CMD"][-1]
    assert cmd[0] in scripts, f"Dockerfile CMD runs {cmd[0]!r}, pyproject declares {sorted(scripts)}"
    assert as_argv(services["vigil"]["command"])[0] in scripts
    assert int(option(cmd, "--port") or Settings().port) == Settings().port
    exposed = [args for instr, args in dockerfile_instructions() if instr == "EXPOSE"]
    assert exposed == [str(Settings().port)]


def _pins(lock: str) -> dict[str, str]:
    """name -> version of a lock file's `name==version` lines."""
    pins = {}
    for line in (REPO / lock).read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = pinned.split(";")[0].strip()
    return pins


def _makefile_var(name: str) -> str:
    found = re.search(rf"^{name}\s*:?=\s*(\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert found, f"Makefile has no {name}"
    return found.group(1)


def test_dockerfile_installs_the_lock_like_the_makefile(pyproject: dict[str, Any]) -> None:
    instructions = dockerfile_instructions()
    base = [args for instr, args in instructions if instr == "FROM"]
    python = re.search(r"python:(\d+\.\d+)-slim", base[0])
    assert python and f">={python.group(1)}" in pyproject["project"]["requires-python"]

    lock, test_lock = _makefile_var("LOCK"), _makefile_var("TEST_LOCK")
    runs = " && ".join(args for instr, args in instructions if instr == "RUN")
    steps = [step.strip() for step in re.split(r"&&|;", runs)]
    assert f"pip install --no-deps -r {lock}" in steps and "pip install --no-deps -e ." in steps
    assert steps.index(f"pip install --no-deps -r {lock}") < steps.index("pip install --no-deps -e .")
    assert not [s for s in steps if s.startswith("pip install") and "--no-deps" not in s and "torch" not in s], \
        "every install in the image takes the locked versions"
    recipe = (REPO / "Makefile").read_text()
    assert "pip install --quiet --no-deps -r $(TEST_LOCK)" in recipe
    assert "pip install --quiet --no-deps -e ." in recipe

    copied = {args.split()[0].rstrip("/") for instr, args in instructions if instr == "COPY"}
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*").rstrip(".") for p in include}
    assert packages | {"static", lock} <= copied, f"image lacks {sorted(packages | {'static', lock} - copied)}"

    # the test lock is the server's lock plus the test tools: the tests run what the image runs
    runtime, testing = _pins(lock), _pins(test_lock)
    assert {name: testing.get(name) for name in runtime} == runtime


def test_the_locks_hold_every_declared_dependency(pyproject: dict[str, Any]) -> None:
    """A dependency added to pyproject.toml without `make lock` fails here, not on a clean clone."""
    runtime, testing = _pins(_makefile_var("LOCK")), _pins(_makefile_var("TEST_LOCK"))
    declared = [(runtime, Requirement(r)) for r in pyproject["project"]["dependencies"]]
    declared += [(testing, Requirement(r)) for r in pyproject["project"]["optional-dependencies"]["test"]]
    for pins, req in declared:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in the lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), f"lock has {name}=={pins[name]}, not {req}"
    excluded = {canonicalize_name(n) for n in pyproject["tool"]["uv"]["exclude-dependencies"]}
    assert not excluded & set(testing), f"excluded yet locked: {sorted(excluded & set(testing))}"
    assert runtime["mediapipe"] == "0.10.21" and runtime["numpy"].startswith("2."), "mediapipe's override"


def test_dockerfile_torch_is_optional_and_cpu_only() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for instr, a in instructions if instr == "ARG" and "=" in a)
    assert args.get("WITH_TORCH") == "0", "torch must be off by default"
    torch_runs = [a for instr, a in instructions if instr == "RUN" and "torch" in a]
    assert torch_runs, "no optional torch step"
    for run in torch_runs:
        assert '"$WITH_TORCH" = "1"' in run
        assert "--index-url https://download.pytorch.org/whl/cpu" in run
