"""What a store call raises when Redis is away: the one name the layers above catch.

It is redis-py's `RedisError` (connection refused, timeout, a reply error) under the store's name,
so no code outside `server/store/` needs to know the client library.
"""
from __future__ import annotations

from redis.exceptions import RedisError as StoreUnavailable

__all__ = ["StoreUnavailable"]
