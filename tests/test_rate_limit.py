"""The per-key token buckets (`server.core.rate_limit.KeyedBuckets`): pure, the time passed in."""
from __future__ import annotations

from server.core.rate_limit import KeyedBuckets


def test_each_key_has_its_own_budget_that_refills() -> None:
    limits = KeyedBuckets(rate=1.0, burst=2.0)
    assert [limits.allow("a", 0.0) for _ in range(3)] == [True, True, False]
    assert limits.allow("b", 0.0)  # another key is not charged for a's frames
    assert not limits.allow("a", 0.5) and limits.allow("a", 1.6)


def test_past_max_keys_the_least_recently_used_is_forgotten() -> None:
    limits = KeyedBuckets(rate=1.0, burst=1.0, max_keys=2)
    assert limits.allow("a", 0.0) and limits.allow("b", 0.0)
    assert not limits.allow("a", 0.0)  # a is spent, and now the most recently used
    assert limits.allow("c", 0.0)  # b, the least recently used, is forgotten
    assert not limits.allow("a", 0.0)  # a was kept, still spent
    assert limits.allow("b", 0.0)  # b starts again with a full bucket
