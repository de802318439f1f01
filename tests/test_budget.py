"""Unit tests of the session file budget shared by evidence snapshots and event clips (`server/live/budget.py`)."""
from __future__ import annotations

from server.live.budget import FileLimits, SessionBudget
from server.live.clips import ClipLimits
from server.live.evidence import EvidenceLimits

LIMITS = FileLimits(per_type=2, per_session=3, max_file_bytes=100, max_session_bytes=250)


def test_reservations_count_per_type_then_per_session() -> None:
    budget = SessionBudget(LIMITS)
    assert budget.refusal("phone") is None
    budget.reserve("phone")
    budget.reserve("phone")
    assert budget.refusal("phone") == "per_type" and budget.refusal("book") is None
    budget.reserve("book")
    # the session's limit is said first: no type has room once the session is full
    assert budget.refusal("book") == "per_session" and budget.refusal("paste") == "per_session"
    assert budget.reserved == 3 and budget.bytes == 0


def test_written_bytes_shrink_the_room_and_refuse_once_the_session_is_full() -> None:
    budget = SessionBudget(FileLimits(per_type=10, per_session=10, max_file_bytes=100, max_session_bytes=250))
    assert budget.room() == 100  # the per-file cap
    budget.record(100)
    budget.record(90)
    assert budget.room() == 60 and budget.refusal("phone") is None  # what the session has left
    budget.record(60)
    assert budget.room() == 0 and budget.refusal("phone") == "size"


def test_a_reservation_that_writes_nothing_costs_no_bytes() -> None:
    budget = SessionBudget(LIMITS)
    budget.reserve("phone")
    assert budget.room() == 100 and budget.bytes == 0 and budget.refusal("phone") is None


def test_each_kind_keeps_its_own_defaults_and_takes_overrides() -> None:
    assert (EvidenceLimits().per_type, EvidenceLimits().per_session) == (5, 50)
    assert (EvidenceLimits().max_file_bytes, EvidenceLimits().max_session_bytes) == (120_000, 4_000_000)
    assert ClipLimits() == ClipLimits(per_type=3, per_session=12, max_file_bytes=1_000_000,
                                      max_session_bytes=6_000_000)
    assert ClipLimits(per_type=2, per_session=3).max_session_bytes == 6_000_000
