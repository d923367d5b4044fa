"""The embedded default store: one SQLite file, safe for several processes on one machine.

SQLite calls run on one worker thread per store, so the event loop never waits on the disk or
on another process holding the write lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.errors import StoreError
from bot.stores import Clock, Stored

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    key TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_expires ON conversations (expires);
CREATE INDEX IF NOT EXISTS events_expires ON events (expires);
"""
_PURGE_EVERY = 256


class SQLiteStore:
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self._path = path
        self._clock = clock or time.time
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kneebot-sqlite")
        self._db: sqlite3.Connection | None = None
        self._writes = 0

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self._path, timeout=5.0, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the SQLite store at {str(self._path)!r}: {exc}") from exc
            self._db = db
            self._purge(db)
        return self._db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return work(self._connect())
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store at {str(self._path)!r} failed: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _purge(self, db: sqlite3.Connection) -> None:
        """Expired conversations leave the file, not just the answers."""
        now = self._clock()
        db.execute("DELETE FROM conversations WHERE expires <= ?", (now,))
        db.execute("DELETE FROM events WHERE expires <= ?", (now,))

    def _wrote(self, db: sqlite3.Connection) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            self._purge(db)

    async def get(self, key: str) -> Stored | None:
        def work(db: sqlite3.Connection) -> Stored | None:
            row = db.execute(
                "SELECT data, version FROM conversations WHERE key = ? AND expires > ?",
                (key, self._clock()),
            ).fetchone()
            return Stored(row[0], row[1]) if row else None

        return await self._run(work)

    async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            if expected is None:
                # Absent, or present but expired: versions keep counting so no stale writer matches.
                cursor = db.execute(
                    "INSERT INTO conversations (key, data, version, expires) VALUES (?, ?, 1, ?) "
                    "ON CONFLICT (key) DO UPDATE SET data = excluded.data, "
                    "version = conversations.version + 1, expires = excluded.expires "
                    "WHERE conversations.expires <= ?",
                    (key, data, now + ttl, now),
                )
            else:
                cursor = db.execute(
                    "UPDATE conversations SET data = ?, version = version + 1, expires = ? "
                    "WHERE key = ? AND version = ? AND expires > ?",
                    (data, now + ttl, key, expected, now),
                )
            self._wrote(db)
            return cursor.rowcount == 1

        return await self._run(work)

    async def delete(self, key: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM conversations WHERE key = ?", (key,)))

    async def forget_user(self, user: str) -> int:
        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "DELETE FROM conversations WHERE substr(key, -?) = ? AND key LIKE '%:%:%'",
                (len(user) + 1, ":" + user),
            )
            return cursor.rowcount

        return await self._run(work)

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            cursor = db.execute(
                "INSERT INTO events (id, expires) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET expires = excluded.expires WHERE events.expires <= ?",
                (event_id, now + ttl, now),
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def close(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(work)
            self._db = None
        self._executor.shutdown(wait=True)
