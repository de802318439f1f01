"""A token bucket: `rate` tokens a second up to `burst`; pure, the caller passes the time."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.tokens = self.burst

    def allow(self, now: float, cost: float = 1.0) -> bool:
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


@dataclass
class KeyedBuckets:
    """One `TokenBucket` per key (a session, an address), at most `max_keys` of them: past that the
    least recently used key is forgotten, so a flood of keys costs bounded memory (a forgotten key
    starts again with a full bucket)."""

    rate: float
    burst: float
    max_keys: int = 10_000
    _buckets: dict[str, TokenBucket] = field(default_factory=dict, init=False)

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        bucket = self._buckets.pop(key, None) or TokenBucket(self.rate, self.burst)
        self._buckets[key] = bucket  # dicts keep insertion order: re-inserted last, i.e. most recent
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return bucket.allow(now, cost)
