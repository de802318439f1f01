"""The layering holds: no import cycle, imports only downwards (the table in `tests/architecture.py`),
Redis only in `server/store/`, Redis keys only in `server/store/keys.py`."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture import check_tree

REPO = Path(__file__).resolve().parent.parent


def test_server_and_pipeline_keep_the_layering() -> None:
    violations = check_tree(REPO)
    if violations:
        pytest.fail("layering broken (table and rules: tests/architecture.py):\n" + "\n".join(map(str, violations)),
                    pytrace=False)


def tree(root: Path, files: dict[str, str]) -> Path:
    """A fake repository: `files` maps relative paths to their source; packages get an __init__.py."""
    for relative, source in files.items():
        path = root / relative
        for package in (path.parent, *path.parent.parents):
            if package == root or root not in package.parents:
                break
            package.mkdir(parents=True, exist_ok=True)
            (package / "__init__.py").touch()
        path.write_text(source)
    return root


def found(root: Path) -> list[str]:
    return [str(v) for v in check_tree(root)]


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert found(tree(tmp_path, {
        "server/http/routes.py": "from server.live.session import Session\n",
        "server/live/session.py": "from server.store import keys\nfrom pipeline.frame import Frame\n",
        "server/store/keys.py": "import redis\nKEY = 'vigil:session:'\n",
        "server/tools/client.py": "from server.live import session\n",
        "server/cli.py": "def main():\n    from server.tools import client\n",
        "pipeline/frame.py": "class Frame: ...\n",
    })) == []


def test_a_cycle_through_an_import_inside_a_function_fails(tmp_path: Path) -> None:
    assert found(tree(tmp_path, {
        "server/live/a.py": "from server.live import b\n",
        "server/live/b.py": "def late():\n    from server.live.a import x\n",
    })) == ["server/live/b.py:2: [cycle] server.live.a -> server.live.b -> server.live.a"]


def test_a_relative_import_cycle_fails(tmp_path: Path) -> None:
    assert found(tree(tmp_path, {
        "pipeline/stages/objects.py": "from .nanodet import Detector\n",
        "pipeline/stages/nanodet.py": "from . import objects\n",
    })) == ["pipeline/stages/objects.py:1: [cycle] pipeline.stages.nanodet -> pipeline.stages.objects "
            "-> pipeline.stages.nanodet"]


@pytest.mark.parametrize(("importer", "statement", "rooms"), [
    ("server/store/store.py", "from server.live.session import Session", "(store) imports server.live.session (live)"),
    ("server/rtc/frames.py", "import server.protocol.messages", "(rtc) imports server.protocol.messages (protocol)"),
    ("server/tools/client.py", "from server.http import keys", "(tools) imports server.http.keys (http)"),
    ("pipeline/frame.py", "from server.core import config", "(pipeline) imports server.core.config (core)"),
])
def test_an_import_against_the_direction_fails(tmp_path: Path, importer: str, statement: str, rooms: str) -> None:
    files = {"server/live/session.py": "", "server/protocol/messages.py": "", "server/http/keys.py": "",
             "server/core/config.py": "", importer: f'"""doc"""\n{statement}\n'}
    [violation] = found(tree(tmp_path, files))
    assert violation.startswith(f"{importer}:2: [direction] ") and rooms in violation


def test_the_redis_client_outside_the_store_fails(tmp_path: Path) -> None:
    assert found(tree(tmp_path, {
        "server/live/a.py": "import redis.asyncio\n",
        "server/http/b.py": "from redis.exceptions import RedisError\n",
        "server/reports/c.py": "async def f(store):\n    return await store.redis.get('x')\n",
        "server/store/store.py": "import redis\nclass Store:\n    redis = None\n",
    })) == [
        "server/http/b.py:1: [redis-client] imports redis.exceptions outside server/store/",
        "server/live/a.py:1: [redis-client] imports redis outside server/store/",
        "server/reports/c.py:2: [redis-client] uses `.redis` (the Redis client) outside server/store/",
    ]


def test_a_redis_key_outside_keys_py_fails(tmp_path: Path) -> None:
    assert found(tree(tmp_path, {
        "server/store/keys.py": "def session_key(sid):\n    return f'vigil:session:{{{sid}}}'\n",
        "server/store/store.py": "LIVE = 'vigil:sessions:live'\n",
        "server/cli.py": "def f(sid):\n    print('vigil: worker ready')\n    return f'vigil:worker:{sid}'\n",
    })) == [
        "server/cli.py:3: [redis-key] Redis key literal 'vigil:worker:' outside server/store/keys.py",
        "server/store/store.py:1: [redis-key] Redis key literal 'vigil:sessions:live' outside server/store/keys.py",
    ]


def test_a_module_outside_every_room_fails(tmp_path: Path) -> None:
    assert found(tree(tmp_path, {"server/misc/util.py": ""})) == [
        "server/misc/__init__.py:1: [room] room 'misc' is not in the table of tests/architecture.py",
        "server/misc/util.py:1: [room] room 'misc' is not in the table of tests/architecture.py",
    ]
