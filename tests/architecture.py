"""The layering of `server/` and `pipeline/`, as data, and a checker that reads every import with `ast`.

Rooms, top to bottom. A room may import itself and the rooms listed for it, nothing else:

| room | is | may import |
|---|---|---|
| app, cli, models | `server/app.py`, `server/cli/`, `server/models.py` | every room below; cli also app, models, tools |
| http | `server/http/` | cluster, live, reports, accounts, rtc, protocol, store, core, pipeline |
| cluster | `server/cluster/` | live, reports, accounts, rtc, protocol, store, core, pipeline |
| live | `server/live/` | reports, accounts, rtc, protocol, store, core, pipeline |
| reports | `server/reports/` | accounts, rtc, protocol, store, core, pipeline |
| accounts | `server/accounts/` | rtc, protocol, store, core, pipeline |
| rtc, protocol, store, inference | `server/rtc/`, `server/protocol/`, `server/store/`, `server/inference/` | core, pipeline (not each other) |
| core | `server/core/` | pipeline |
| pipeline | `pipeline/` | nothing of server |
| tools | `server/tools/` (scripted candidate, load test) | every room but app, cli, http |

Rules, each failing with the file, the line and the rule's name:
- `cycle`: no import cycle between modules (imports inside functions count: they only hide a cycle);
- `direction`: every import of a first-party module follows the table above;
- `redis-client`: only `server/store/` imports `redis` or reaches for a `.redis` attribute;
- `redis-key`: a string starting `vigil:` and a key (a Redis key) is written only in `server/store/keys.py`;
- `room`: every module is in a room of the table.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TOP = ("app", "cli", "models")
#: top to bottom; a room may import the rooms of every later layer, none of its own layer but itself
LAYERS: tuple[tuple[str, ...], ...] = (
    TOP, ("http",), ("cluster",), ("live",), ("reports",), ("accounts",), ("rtc", "protocol", "store", "inference"),
    ("core",), ("pipeline",),
)
ROOMS = tuple(room for layer in LAYERS for room in layer) + ("tools",)


def _allowed() -> dict[str, frozenset[str]]:
    allowed = {room: frozenset(r for later in LAYERS[i + 1:] for r in later)
               for i, layer in enumerate(LAYERS) for room in layer}
    allowed["pipeline"] = frozenset()  # pipeline/ imports nothing of server/
    allowed["cli"] |= {"app", "models", "tools"}  # `vigil serve` builds the app; `vigil loadtest` runs tools
    allowed["tools"] = frozenset(ROOMS) - {"app", "cli", "http", "tools"}
    return allowed


ALLOWED = _allowed()
STORE_DIR = "server/store/"
KEYS_FILE = "server/store/keys.py"
#: a Redis key: `vigil:` then the key, no space (`"vigil: worker 2 listening"` is a message)
KEY = re.compile(r"vigil:(?!\s)")


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.detail}"


@dataclass(frozen=True)
class Import:
    path: str  # importer's file, relative to the root
    line: int
    target: str  # the first-party module imported


def module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "pipeline":
        return "pipeline"
    if parts[0] != "server" or len(parts) == 1:
        return None  # the `server` package itself: a docstring, importable by all
    return parts[1]


def source_files(root: Path) -> dict[str, Path]:
    """Module name -> file, for every module of `server/` and `pipeline/` under `root`."""
    return {module_name(path.relative_to(root)): path
            for top in ("server", "pipeline") for path in sorted((root / top).rglob("*.py"))}


def _resolve(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
             modules: dict[str, Path]) -> Iterator[str]:
    """First-party modules an import statement loads (`from a import b` is module a.b when one exists)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".") if is_package else importer.split(".")[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    for name in dict.fromkeys(names):
        while name and name not in modules:  # `import server.rtc.jitter.x` style: nearest module
            name = name.rpartition(".")[0]
        if name and room_of(name) is not None:
            yield name


def read_imports(root: Path, modules: dict[str, Path]) -> dict[str, list[Import]]:
    """Every first-party import of every module, at any depth (inside functions too)."""
    out: dict[str, list[Import]] = {}
    for module, path in modules.items():
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), filename=relative)
        found = out.setdefault(module, [])
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _resolve(node, module, path.name == "__init__.py", modules):
                    if target != module:
                        found.append(Import(relative, node.lineno, target))
    return out


def direction_violations(imports: dict[str, list[Import]]) -> list[Violation]:
    out = []
    for module, found in imports.items():
        source = room_of(module)
        if source not in ALLOWED:
            continue  # reported once by room_violations
        for imp in found:
            target = room_of(imp.target)
            if source is None or target is None or target == source or target in ALLOWED[source]:
                continue
            out.append(Violation(imp.path, imp.line, "direction",
                                 f"{module} ({source}) imports {imp.target} ({target}); "
                                 f"{source} may import {', '.join(sorted(ALLOWED[source])) or 'nothing of server'}"))
    return out


def room_violations(root: Path, modules: dict[str, Path]) -> list[Violation]:
    return [Violation(path.relative_to(root).as_posix(), 1, "room",
                      f"room {room_of(module)!r} is not in the table of tests/architecture.py")
            for module, path in modules.items() if room_of(module) not in (None, *ALLOWED)]


def cycle_violations(imports: dict[str, list[Import]]) -> list[Violation]:
    """One violation per cycle found by a depth-first walk, at the import that closes it."""
    out: list[Violation] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imp in imports.get(module, []):
            if state.get(imp.target) == 1:
                ring = path[path.index(imp.target):] + [imp.target]
                out.append(Violation(imp.path, imp.line, "cycle", " -> ".join(ring)))
            elif imp.target not in state:
                visit(imp.target)
        path.pop()
        state[module] = 2

    for module in sorted(imports):
        if module not in state:
            visit(module)
    return out


def redis_violations(root: Path, modules: dict[str, Path]) -> list[Violation]:
    out = []
    for path in modules.values():
        relative = path.relative_to(root).as_posix()
        in_store = relative.startswith(STORE_DIR)
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if in_store:
                pass
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "redis" for a in node.names):
                out.append(Violation(relative, node.lineno, "redis-client", "imports redis outside server/store/"))
            elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "redis":
                out.append(Violation(relative, node.lineno, "redis-client",
                                     f"imports {node.module} outside server/store/"))
            elif isinstance(node, ast.Attribute) and node.attr == "redis":
                out.append(Violation(relative, node.lineno, "redis-client",
                                     "uses `.redis` (the Redis client) outside server/store/"))
            if (relative != KEYS_FILE and isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and KEY.match(node.value)):
                out.append(Violation(relative, node.lineno, "redis-key",
                                     f"Redis key literal {node.value!r} outside {KEYS_FILE}"))
    return out


def check_tree(root: Path) -> list[Violation]:
    """Every violation of every rule under `root` (a repository, or a test's fake tree), sorted."""
    modules = source_files(root)
    imports = read_imports(root, modules)
    return sorted(room_violations(root, modules) + cycle_violations(imports) + direction_violations(imports)
                  + redis_violations(root, modules))
