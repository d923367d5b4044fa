"""The embedded default store: one SQLite file, safe for several processes on one machine.

SQLite calls run on one worker thread per store, so the event loop never waits on the disk or
on another process holding the write lock.

Private by construction: a folder the store creates is 0700 and the database, its `-wal` and
`-shm` are 0600 (the umask is tightened before SQLite creates them, and SQLite gives its side
files the database's own mode). `secure_delete` overwrites deleted rows, and the WAL is
checkpointed and truncated after a forget and after a sweep, so deleted answers leave the disk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.errors import StoreError
from bot.stores import Clock, Stored, Sweeper, in_workspace, leave_signals_to_main

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    key TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_expires ON conversations (expires);
CREATE INDEX IF NOT EXISTS events_expires ON events (expires);
CREATE TABLE IF NOT EXISTS checkins (key TEXT PRIMARY KEY, due REAL NOT NULL);
CREATE INDEX IF NOT EXISTS checkins_due ON checkins (due);
CREATE TABLE IF NOT EXISTS counters (
    club TEXT NOT NULL, week TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (club, week, name)
);
"""
_PURGE_EVERY = 256


_PRIVATE_FILE = 0o600
_PRIVATE_FOLDER = 0o700


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}:%"


class SQLiteStore:
    def __init__(self, path: Path, clock: Clock | None = None, sweep_every: float | None = None) -> None:
        self._path = path
        self._clock = clock or time.time
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kneebot-sqlite", initializer=leave_signals_to_main
        )
        self._db: sqlite3.Connection | None = None
        self._writes = 0
        self._sweeper = Sweeper(sweep_every, self._sweep_from_timer) if sweep_every else None

    @property
    def path(self) -> Path:
        """The database file (the Slack installations are kept in it too)."""
        return self._path

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._make_folder()
                old = os.umask(0o077)  # the database and its side files are born private
                try:
                    db = sqlite3.connect(self._path, timeout=5.0, isolation_level=None)
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
                    db.execute("PRAGMA secure_delete=ON")
                    db.executescript(_SCHEMA)
                finally:
                    os.umask(old)
                self._tighten()
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the SQLite store at {str(self._path)!r}: {exc}") from exc
            self._db = db
            self._purge(db)
            self._checkpoint(db)
        return self._db

    def _make_folder(self) -> None:
        """A folder the store creates is 0700. A folder that already holds nothing but this
        store's files (the default state folder of an older install) is tightened to 0700; any
        other folder (the working folder, say) is left as it is."""
        folder = self._path.parent
        if not folder.exists():
            folder.mkdir(parents=True, mode=_PRIVATE_FOLDER)
            folder.chmod(_PRIVATE_FOLDER)
            return
        ours = all(child.name.startswith(self._path.name) for child in folder.iterdir())
        found = folder.stat()
        if ours and found.st_uid == os.getuid() and stat.S_IMODE(found.st_mode) != _PRIVATE_FOLDER:
            folder.chmod(_PRIVATE_FOLDER)

    def _tighten(self) -> None:
        """A database made by an older install (0644) becomes 0600, and so do its side files."""
        for suffix in ("", "-wal", "-shm"):
            path = self._path.with_name(self._path.name + suffix)
            try:
                if stat.S_IMODE(path.stat().st_mode) & 0o077:
                    path.chmod(_PRIVATE_FILE)
            except FileNotFoundError:
                continue

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """Copy the WAL into the database and truncate it, so deleted rows leave the WAL too.
        Another process reading at that moment can keep frames from being copied; the next
        checkpoint gets them."""
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return work(self._connect())
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store at {str(self._path)!r} failed: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _purge(self, db: sqlite3.Connection) -> int:
        """Expired conversations leave the file, not just the answers."""
        now = self._clock()
        rows = db.execute("DELETE FROM conversations WHERE expires <= ?", (now,)).rowcount
        return rows + db.execute("DELETE FROM events WHERE expires <= ?", (now,)).rowcount

    def _sweep_now(self) -> int:
        try:
            db = self._connect()
            swept = self._purge(db)
            self._checkpoint(db)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store at {str(self._path)!r} failed: {exc}") from exc
        return swept

    def _sweep_from_timer(self) -> None:
        swept = self._executor.submit(self._sweep_now).result()
        if swept:
            _log.info("retention sweep deleted %d expired rows", swept)

    async def sweep(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._sweep_now)

    async def check(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")  # the write lock: a read-only file fails here
            db.execute("ROLLBACK")

        await self._run(work)

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
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM conversations WHERE key = ?", (key,))
            self._checkpoint(db)

        await self._run(work)

    async def forget_user(self, user: str) -> int:
        def work(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    "DELETE FROM conversations WHERE substr(key, -?) = ? AND key LIKE '%:%:%'",
                    (len(user) + 1, ":" + user),
                )
                # De-duplication ids that name the user (`slack:act:<user>:<ts>`) go too.
                db.execute("DELETE FROM events WHERE instr(':' || id || ':', ?) > 0", (f":{user}:",))
                db.execute(
                    "DELETE FROM checkins WHERE substr(key, -?) = ? AND key LIKE '%:%:%'",
                    (len(user) + 1, ":" + user),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._checkpoint(db)
            return cursor.rowcount

        return await self._run(work)

    async def forget_workspace(self, platform: str, workspace: str) -> int:
        def work(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT key FROM conversations WHERE instr(':' || key || ':', ?) > 0",
                    (f":{platform}:{workspace}:",),
                ).fetchall()
                found = {key: in_workspace(key, platform, workspace) for (key,) in rows}
                gone = {key: user for key, user in found.items() if user is not None}
                db.executemany("DELETE FROM conversations WHERE key = ?", [(key,) for key in gone])
                place = f"{platform}:{workspace}:"
                db.execute("DELETE FROM checkins WHERE substr(key, 1, ?) = ?", (len(place), place))
                db.execute("DELETE FROM counters WHERE club = ?", (f"{platform}:{workspace}",))
                db.execute(
                    "DELETE FROM events WHERE id LIKE ? ESCAPE '\\' AND instr(':' || id || ':', ?) > 0",
                    (_like_prefix(platform), f":{workspace}:"),
                )
                for user in {user for user in gone.values() if user}:
                    db.execute("DELETE FROM events WHERE instr(':' || id || ':', ?) > 0", (f":{user}:",))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._checkpoint(db)
            return sum(1 for key, user in gone.items() if user and key.startswith(f"{platform}:"))

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

    async def schedule(self, key: str, due: float | None) -> None:
        def work(db: sqlite3.Connection) -> None:
            if due is None:
                db.execute("DELETE FROM checkins WHERE key = ?", (key,))
            else:
                db.execute(
                    "INSERT INTO checkins (key, due) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET due = excluded.due",
                    (key, due),
                )

        await self._run(work)

    async def claim_due(self, platform: str, now: float, lease: float, limit: int = 50) -> list[str]:
        def work(db: sqlite3.Connection) -> list[str]:
            # The write lock first: another process claiming at the same moment waits, then
            # finds these already moved past `now`.
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute(
                    "SELECT key FROM checkins WHERE due <= ? AND key >= ? AND key < ? ORDER BY due LIMIT ?",
                    (now, f"{platform}:", f"{platform};", limit),
                ).fetchall()
                claimed = [row[0] for row in found]
                db.executemany(
                    "UPDATE checkins SET due = ? WHERE key = ?", [(now + lease, k) for k in claimed]
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return claimed

        return await self._run(work)

    async def count(self, club: str, week: str, name: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO counters (club, week, name, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (club, week, name) DO UPDATE SET count = count + 1",
                (club, week, name),
            )

        await self._run(work)

    async def counts(self) -> list[tuple[str, str, str, int]]:
        def work(db: sqlite3.Connection) -> list[tuple[str, str, str, int]]:
            rows = db.execute("SELECT club, week, name, count FROM counters ORDER BY club, week, name")
            return [(str(c), str(w), str(n), int(k)) for c, w, n, k in rows.fetchall()]

        return await self._run(work)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()

        def work(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(work)
            self._db = None
        self._executor.shutdown(wait=True)
