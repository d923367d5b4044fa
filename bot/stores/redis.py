"""The shared store: Redis, for several bot processes (Slack HTTP workers, Discord shards).

A conversation is a hash (`v` version, `d` data) with native expiry. Saving is one Lua script,
so compare-and-set is atomic. Versions come from the server clock in microseconds and only grow,
so a writer holding a version from before an expiry can never match the next conversation.

Redis Cluster (`redis+cluster://`, `rediss+cluster://`) uses redis-py's cluster client, which
follows MOVED/ASK redirects and re-reads the slot map after a failover. A cluster refuses any
command or script whose keys live in different hash slots, so every operation here touches
exactly one key (the save script included: KEYS[1] only). Anything added later that must touch
several keys in one command, script or transaction gives them one hash tag
(`kneebot:<kind>:{<tag>}:...`, where only `<tag>` is hashed) so they share a slot; the store
tests run on a real three-master cluster, where a cross-slot command is refused. Scans are the
one whole-keyspace operation: the cluster client walks every master in turn.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry

from bot.errors import ConfigError, StoreError
from bot.stores import Stored, in_workspace, platform_of

__all__ = ["RedisStore"]

_CONVERSATION = "kneebot:conv:"
_EVENT = "kneebot:evt:"
_DUE = "kneebot:due:"  # one sorted set of check-ins per platform: member the key, score the due time
_STATS = "kneebot:stats:"  # one hash per club: field `<week>|<name>`, value the count

# One key: the platform's sorted set. Takes what is due and moves it to the lease's end at once.
_CLAIM = """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(found) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return found
"""

# What the client raises when a server or the cluster cannot answer: a node down, a failover in
# progress (redirects that never settle, CLUSTERDOWN, TRYAGAIN), a slot with no master yet.
_FAILURES = (RedisError, RedisClusterException)
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

# One key, KEYS[1], so one slot: on a cluster the whole script runs on the master that owns it.
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
    def __init__(self, url: str, client: Any = None) -> None:
        self._url = url
        self._redis: Any = client or redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            retry_on_error=[ConnectionError, TimeoutError],
            health_check_interval=15,
        )
        self._save = self._redis.register_script(_SAVE)
        self._claim = self._redis.register_script(_CLAIM)

    @classmethod
    def cluster(cls, url: str) -> RedisStore:
        """A store over Redis Cluster. `url` names any one node (`redis+cluster://user:pw@host:port`);
        the client discovers the rest, and finds the new master of a slot after a failover."""
        scheme, _, rest = url.partition("://")
        try:
            client = RedisCluster.from_url(
                f"{_CLUSTER_SCHEMES[scheme]}://{rest}",
                decode_responses=True,
                socket_connect_timeout=1.0,
                socket_timeout=2.0,
                # A few quick tries, each re-reading the slot map, then the runner hears that the
                # store is unreachable for a moment rather than waiting on a long failover.
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=3),
                health_check_interval=15,
            )
        except (KeyError, ValueError, TypeError, RedisClusterException) as exc:
            # Never echo the URL: it may carry a password.
            raise ConfigError(f"KNEEBOT_STORE names a Redis Cluster kneebot cannot use: {exc}") from exc
        return cls(url, client)

    async def _call(self, what: str, call: Any) -> Any:
        try:
            return await call
        except _FAILURES as exc:
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
            for due in await self._call("scan", self._keys(f"{_DUE}*")):
                members = [m async for m, _ in self._redis.zscan_iter(due, match=f"*:*:{escaped}")]
                if members:
                    await self._call("delete", self._redis.zrem(due, *members))
        except RedisError as exc:  # anything `_call` does not already turn into a StoreError
            raise StoreError(f"Redis store forget failed: {type(exc).__name__}: {exc}") from exc
        return deleted

    async def forget_workspace(self, platform: str, workspace: str) -> int:
        place = f"{_glob_escape(platform)}:{_glob_escape(workspace)}"
        try:
            found: set[str] = set()
            for pattern in (f"{place}:*", f"*:{place}:*", f"*:{place}"):
                found.update(await self._call("scan", self._keys(_CONVERSATION + pattern)))
            gone = {key: in_workspace(key[len(_CONVERSATION) :], platform, workspace) for key in found}
            gone = {key: user for key, user in gone.items() if user is not None}
            for key in gone:
                await self._call("delete", self._redis.delete(key))
            due = _DUE + platform
            members = [m async for m, _ in self._redis.zscan_iter(due, match=f"{place}:*")]
            if members:
                await self._call("delete", self._redis.zrem(due, *members))
            await self._call("delete", self._redis.delete(f"{_STATS}{platform}:{workspace}"))
            await self._delete_matching(f"{_EVENT}{_glob_escape(platform)}:*:{_glob_escape(workspace)}:*")
            await self._delete_matching(f"{_EVENT}{_glob_escape(platform)}:*:{_glob_escape(workspace)}")
            for user in {user for user in gone.values() if user}:
                await self._delete_matching(f"{_EVENT}*:{_glob_escape(user)}:*")
                await self._delete_matching(f"{_EVENT}*:{_glob_escape(user)}")
        except RedisError as exc:
            raise StoreError(f"Redis store forget failed: {type(exc).__name__}: {exc}") from exc
        conversation = f"{_CONVERSATION}{platform}:"
        return sum(1 for key, user in gone.items() if user and key.startswith(conversation))

    @property
    def client(self) -> Any:
        """The redis-py client (the Slack installations are kept through it too)."""
        return self._redis

    async def _delete_matching(self, pattern: str) -> int:
        deleted = 0
        for found in await self._call("scan", self._keys(pattern)):
            deleted += await self._call("delete", self._redis.delete(found))
        return int(deleted)

    async def sweep(self) -> int:
        """Nothing to do: Redis deletes every key at its expiry by itself."""
        return 0

    async def check(self) -> None:
        await self._call("ping", self._redis.ping())

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        set_ = self._redis.set(_EVENT + event_id, "1", nx=True, px=max(1, int(ttl * 1000)))
        return bool(await self._call("de-duplication", set_))

    async def schedule(self, key: str, due: float | None) -> None:
        name = _DUE + platform_of(key)
        if due is None:
            await self._call("check-in", self._redis.zrem(name, key))
        else:
            await self._call("check-in", self._redis.zadd(name, {key: due}))

    async def claim_due(self, platform: str, now: float, lease: float, limit: int = 50) -> list[str]:
        claimed = self._claim(keys=[_DUE + platform], args=[repr(now), repr(now + lease), limit])
        return [str(key) for key in await self._call("claim", claimed)]

    async def count(self, club: str, week: str, name: str) -> None:
        await self._call("count", self._redis.hincrby(_STATS + club, f"{week}|{name}", 1))

    async def counts(self) -> list[tuple[str, str, str, int]]:
        found: list[tuple[str, str, str, int]] = []
        for name in await self._call("scan", self._keys(f"{_STATS}*")):
            for field, count in (await self._call("read", self._redis.hgetall(name))).items():
                week, _, counted = str(field).partition("|")
                found.append((name[len(_STATS) :], week, counted, int(count)))
        return sorted(found)

    async def close(self) -> None:
        await self._redis.aclose()

    async def _keys(self, pattern: str) -> list[str]:
        """Every key matching `pattern`. On a cluster, scan_iter scans each master in turn (each
        holds its own slots; replicas only copy them), so no key is missed wherever it lives."""
        return [found async for found in self._redis.scan_iter(match=pattern, count=500)]


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
