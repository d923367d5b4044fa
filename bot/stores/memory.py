"""The in-process store: dicts with expiry. For tests, the terminal and the benchmark floor."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from bot.stores import Clock, Stored, Sweeper, in_workspace, names_user, names_workspace, platform_of

__all__ = ["MemoryStore"]


class MemoryStore:
    """Rows are kept in the order they were last written. Every row of a store is usually given
    the same time to live, so the oldest write is the first to expire: each write drops expired
    rows from the front, which costs nothing however many conversations are live. A row that
    expires out of order is still never returned, and goes at the next sweep.

    A lock guards the dicts, because the sweep timer runs on a thread of its own."""

    def __init__(self, clock: Clock | None = None, sweep_every: float | None = None) -> None:
        self._clock = clock or time.time
        self._rows: OrderedDict[str, tuple[str, int, float]] = OrderedDict()
        self._events: OrderedDict[str, float] = OrderedDict()
        self._versions = 0
        self._checkins: dict[str, float] = {}
        self._counters: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        self._sweeper = Sweeper(sweep_every, self._sweep) if sweep_every else None

    async def get(self, key: str) -> Stored | None:
        with self._lock:
            row = self._rows.get(key)
        if row is None or row[2] <= self._clock():
            return None
        return Stored(row[0], row[1])

    async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
        now = self._clock()
        with self._lock:
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
        with self._lock:
            self._rows.pop(key, None)

    async def forget_user(self, user: str) -> int:
        with self._lock:
            gone = [key for key in self._rows if key.split(":", 2)[-1] == user]
            for key in gone:
                del self._rows[key]
            for event_id in [e for e in self._events if names_user(e, user)]:
                del self._events[event_id]
            for key in [k for k in self._checkins if k.split(":", 2)[-1] == user]:
                del self._checkins[key]
        return len(gone)

    async def forget_workspace(self, platform: str, workspace: str) -> int:
        with self._lock:
            found = {key: in_workspace(key, platform, workspace) for key in self._rows}
            gone = {key: user for key, user in found.items() if user is not None}
            users = {user for user in gone.values() if user}
            for key in gone:
                del self._rows[key]
            for key in [k for k in self._checkins if in_workspace(k, platform, workspace)]:
                del self._checkins[key]
            for counter in [c for c in self._counters if c[0] == f"{platform}:{workspace}"]:
                del self._counters[counter]
            for event_id in list(self._events):
                if names_workspace(event_id, platform, workspace) or any(
                    names_user(event_id, user) for user in users
                ):
                    del self._events[event_id]
        return sum(1 for key, user in gone.items() if user and key.startswith(f"{platform}:"))

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        now = self._clock()
        with self._lock:
            expires = self._events.get(event_id)
            if expires is not None and expires > now:
                return False
            self._events[event_id] = now + ttl
            self._events.move_to_end(event_id)
            while self._events and next(iter(self._events.values())) <= now:
                self._events.popitem(last=False)
        return True

    async def schedule(self, key: str, due: float | None) -> None:
        with self._lock:
            if due is None:
                self._checkins.pop(key, None)
            else:
                self._checkins[key] = due

    async def claim_due(self, platform: str, now: float, lease: float, limit: int = 50) -> list[str]:
        with self._lock:
            due = sorted(
                (at, key) for key, at in self._checkins.items() if at <= now and platform_of(key) == platform
            )
            claimed = [key for _, key in due[:limit]]
            for key in claimed:
                self._checkins[key] = now + lease
        return claimed

    async def count(self, club: str, week: str, name: str) -> None:
        with self._lock:
            self._counters[(club, week, name)] = self._counters.get((club, week, name), 0) + 1

    async def counts(self) -> list[tuple[str, str, str, int]]:
        with self._lock:
            return [(*key, count) for key, count in sorted(self._counters.items())]

    async def sweep(self) -> int:
        return self._sweep()

    def _sweep(self) -> int:
        now = self._clock()
        with self._lock:
            rows = [key for key, row in self._rows.items() if row[2] <= now]
            events = [key for key, expires in self._events.items() if expires <= now]
            for key in rows:
                del self._rows[key]
            for key in events:
                del self._events[key]
        return len(rows) + len(events)

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
        with self._lock:
            self._rows.clear()
            self._events.clear()
            self._checkins.clear()

    def _drop_expired(self, now: float) -> None:
        while self._rows:
            key, row = next(iter(self._rows.items()))
            if row[2] > now:
                return
            del self._rows[key]
