"""The shared store: Redis, for several bot processes (Slack HTTP workers, Discord shards).

A conversation is a hash (`v` version, `d` data) with native expiry. Saving is one Lua script,
so compare-and-set is atomic. Versions come from the server clock in microseconds and only grow,
so a writer holding a version from before an expiry can never match the next conversation.
Every key is a single hash slot, so the store works on Redis Cluster too.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from bot.errors import StoreError
from bot.stores import Stored

__all__ = ["RedisStore"]

_CONVERSATION = "kneebot:conv:"
_EVENT = "kneebot:evt:"

_SAVE = """
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
local now = redis.call('TIME')
local version = tonumber(now[1]) * 1000000 + tonumber(now[2])
if current and version <= tonumber(current) then version = tonumber(current) + 1 end
redis.call('HSET', KEYS[1], 'v', string.format('%d', version), 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: Any = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            retry_on_error=[ConnectionError, TimeoutError],
            health_check_interval=15,
        )
        self._save = self._redis.register_script(_SAVE)

    async def _call(self, what: str, call: Any) -> Any:
        try:
            return await call
        except RedisError as exc:
            raise StoreError(f"Redis store {what} failed: {type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> Stored | None:
        found = await self._call("read", self._redis.hmget(_CONVERSATION + key, "v", "d"))
        version, data = found
        return Stored(data, int(version)) if version is not None and data is not None else None

    async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
        args: list[str | int] = ["" if expected is None else str(expected), data, max(1, int(ttl * 1000))]
        saved = await self._call("save", self._save(keys=[_CONVERSATION + key], args=args))
        return bool(saved)

    async def delete(self, key: str) -> None:
        await self._call("delete", self._redis.delete(_CONVERSATION + key))

    async def forget_user(self, user: str) -> int:
        escaped = _glob_escape(user)
        try:
            deleted = await self._delete_matching(f"{_CONVERSATION}*:*:{escaped}")
            # De-duplication ids that name the user (`slack:act:<user>:<ts>`) go too.
            await self._delete_matching(f"{_EVENT}*:{escaped}:*")
            await self._delete_matching(f"{_EVENT}*:{escaped}")
        except RedisError as exc:
            raise StoreError(f"Redis store forget failed: {type(exc).__name__}: {exc}") from exc
        return deleted

    async def _delete_matching(self, pattern: str) -> int:
        deleted = 0
        async for found in self._redis.scan_iter(match=pattern, count=500):
            deleted += await self._redis.delete(found)
        return int(deleted)

    async def sweep(self) -> int:
        """Nothing to do: Redis deletes every key at its expiry by itself."""
        return 0

    async def check(self) -> None:
        await self._call("ping", self._redis.ping())

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        set_ = self._redis.set(_EVENT + event_id, "1", nx=True, px=max(1, int(ttl * 1000)))
        return bool(await self._call("de-duplication", set_))

    async def close(self) -> None:
        await self._redis.aclose()


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
