"""The in-process store: dicts with expiry. For tests, the terminal and the benchmark floor."""

from __future__ import annotations

import time
from collections import OrderedDict

from bot.stores import Clock, Stored

__all__ = ["MemoryStore"]


class MemoryStore:
    """Rows are kept in the order they were last written. Every row of a store is usually given
    the same time to live, so the oldest write is the first to expire: each write drops expired
    rows from the front, which costs nothing however many conversations are live. A row that
    expires out of order is still never returned, and goes when it reaches the front."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or time.time
        self._rows: OrderedDict[str, tuple[str, int, float]] = OrderedDict()
        self._events: OrderedDict[str, float] = OrderedDict()
        self._versions = 0

    async def get(self, key: str) -> Stored | None:
        row = self._rows.get(key)
        if row is None or row[2] <= self._clock():
            return None
        return Stored(row[0], row[1])

    async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
        now = self._clock()
        row = self._rows.get(key)
        current = row[1] if row is not None and row[2] > now else None
        if current != expected:
            return False
        # Versions count across the store and never repeat, so a stale writer can never match.
        self._versions += 1
        self._rows[key] = (data, self._versions, now + ttl)
        self._rows.move_to_end(key)
        self._drop_expired(now)
        return True

    async def delete(self, key: str) -> None:
        self._rows.pop(key, None)

    async def forget_user(self, user: str) -> int:
        gone = [key for key in self._rows if key.rsplit(":", 1)[-1] == user]
        for key in gone:
            del self._rows[key]
        return len(gone)

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        now = self._clock()
        expires = self._events.get(event_id)
        if expires is not None and expires > now:
            return False
        self._events[event_id] = now + ttl
        self._events.move_to_end(event_id)
        while self._events and next(iter(self._events.values())) <= now:
            self._events.popitem(last=False)
        return True

    async def close(self) -> None:
        self._rows.clear()
        self._events.clear()

    def _drop_expired(self, now: float) -> None:
        while self._rows:
            key, row = next(iter(self._rows.items()))
            if row[2] > now:
                return
            del self._rows[key]
