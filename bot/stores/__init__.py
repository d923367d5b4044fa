"""Conversation stores: one small interface, one module per backend, chosen by URL.

- `memory://`: this process only; tests and the benchmark floor.
- `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`: the embedded default.
- `redis://host:6379/0`: shared by several bot processes.
- `redis+cluster://host:6379`: the same over a Redis Cluster (any node as the seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.errors import ConfigError

__all__ = ["Clock", "Store", "Stored", "open_store"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Stored:
    data: str
    version: int


class Store(Protocol):
    """Where conversations live between events. Every method is safe to call concurrently."""

    async def get(self, key: str) -> Stored | None:
        """The conversation under `key`, or None if there is none or it has expired."""

    async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
        """Save `data` if the stored version is still `expected` (None: nothing stored).

        Returns False, changing nothing, when another writer got there first.
        """

    async def delete(self, key: str) -> None:
        """Remove the conversation under `key` at once (forget)."""

    async def forget_user(self, user: str) -> int:
        """Remove every conversation of this user id, on any platform and workspace."""

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        """Record an event id; True the first time it is seen within `ttl` seconds."""

    async def close(self) -> None: ...


def open_store(url: str, clock: Clock | None = None) -> Store:
    """A store for a URL. Raises ConfigError for a URL no backend understands."""
    if url == "memory://" or url.startswith("memory://"):
        from bot.stores.memory import MemoryStore

        return MemoryStore(clock=clock)
    if url.startswith("sqlite:///"):
        from bot.stores.sqlite import SQLiteStore

        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError(f"KNEEBOT_STORE={url!r} names no file; try sqlite:////abs/path.db")
        return SQLiteStore(Path(path).expanduser(), clock=clock)
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from bot.stores.redis import RedisStore

        return RedisStore.cluster(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from bot.stores.redis import RedisStore

        return RedisStore(url)
    raise ConfigError(
        f"KNEEBOT_STORE={url!r} is not a store kneebot knows; "
        "use memory://, sqlite:///path/to/file.db, redis://host:6379/0 or redis+cluster://host:6379"
    )
