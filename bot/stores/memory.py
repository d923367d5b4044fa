"""The in-process store: a dict with expiry. For tests, the terminal and the benchmark floor."""

from __future__ import annotations

import time

from bot.stores import Clock, Stored

__all__ = ["MemoryStore"]

_SWEEP_EVERY = 1024


class MemoryStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or time.time
        self._rows: dict[str, tuple[str, int, float]] = {}
        self._events: dict[str, float] = {}
        self._writes = 0

    async def get(self, key: str) -> Stored | None:
        row = self._rows.get(key)
        if row is None or row[2] <= self._clock():
            return None
        return Stored(row[0], row[1])

    async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
        now = self._clock()
        row = self._rows.get(key)
        live = row is not None and row[2] > now
        current = row[1] if row is not None and live else None
        if current != expected:
            return False
        # Versions keep counting across expiry, so a stale writer can never match a new row.
        version = (row[1] if row is not None else 0) + 1
        self._rows[key] = (data, version, now + ttl)
        self._sweep(now)
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
        self._sweep(now)
        return True

    async def close(self) -> None:
        self._rows.clear()
        self._events.clear()

    def _sweep(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        self._rows = {k: row for k, row in self._rows.items() if row[2] > now}
        self._events = {k: expires for k, expires in self._events.items() if expires > now}
