"""Password hashing in its own small, bounded pool: off the event loop and off the analysis threads.

argon2 is deliberately expensive (tens of ms and 64 MiB per hash). A flood of logins or
registrations must cost the flooder, not the candidates being analysed: hashes run on ONE thread
with one lane (`parallelism=1`, so a hash takes at most one core), at most `MAX_WAITING` wait for
it, and the rest are refused at once with 503 and a retry hint. Verifying a hash made with other
parameters still works (they are stored in the hash); `needs_rehash` upgrades it at the next login.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.core.metrics import REJECTED
from server.protocol.errors import ApiError

T = TypeVar("T")

#: password checks allowed to wait for the hashing thread; beyond, 503 at once.
MAX_WAITING = 16
_hasher = PasswordHasher(parallelism=1)
#: verified against when the email is unknown, so a login takes as long either way.
DUMMY_HASH = _hasher.hash("vigil-timing-equaliser")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordHashing:
    """The hashing pool of one process; `close()` is idempotent."""

    def __init__(self, threads: int = 1, max_waiting: int = MAX_WAITING) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-hash")
        self._max_waiting = max_waiting
        self._waiting = 0

    async def hash(self, password: str) -> str:
        return await self._run(_hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(_verify, password_hash, password)

    @staticmethod
    def needs_rehash(password_hash: str) -> bool:
        return _hasher.check_needs_rehash(password_hash)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self._waiting >= self._max_waiting:
            REJECTED.labels("password_hashing").inc()
            raise ApiError(503, "too many sign-ins at once; retry shortly", {"retry_after_s": 1}, code="busy", retry_after_s=1)
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
