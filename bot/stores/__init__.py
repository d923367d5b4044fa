"""Conversation stores: one small interface, one module per backend, chosen by URL.

- `memory://`: this process only; tests and the benchmark floor.
- `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`: the embedded default.
- `redis://host:6379/0`: shared by several bot processes.
- `redis+cluster://host:6379`: the same over a Redis Cluster (any node as the seed).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from bot.errors import ConfigError

__all__ = [
    "Clock",
    "Store",
    "Stored",
    "Sweeper",
    "in_workspace",
    "names_user",
    "names_workspace",
    "open_store",
    "platform_of",
]

Clock = Callable[[], float]

_log = logging.getLogger(__name__)


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
        """Remove every conversation of this user id, on any platform and workspace, every
        check-in and every event id that names them (`slack:act:<user>:...`). Returns how many
        conversations went."""

    async def forget_workspace(self, platform: str, workspace: str) -> int:
        """Remove everything kept for one workspace or server (an uninstall): every conversation
        and row keyed under `<platform>:<workspace>` (the club's settings, unsent replies), its
        runners' pending check-ins, the club's anonymous counters, every event id that names the
        workspace, and every event id that names one of its runners.
        Returns how many conversations went."""

    async def first_sighting(self, event_id: str, ttl: float) -> bool:
        """Record an event id; True the first time it is seen within `ttl` seconds."""

    async def schedule(self, key: str, due: float | None) -> None:
        """Keep a check-in for the conversation under `key`, due at `due` (a Unix time); None
        removes it. One check-in per conversation: scheduling again moves it."""

    async def claim_due(self, platform: str, now: float, lease: float, limit: int = 50) -> list[str]:
        """The keys of `platform`'s conversations whose check-in is due at `now`, claimed: each
        is moved to `now + lease` in the same atomic step, so no other process gets it before
        the lease runs out (if this one dies first, another takes it then)."""

    async def count(self, club: str, week: str, name: str) -> None:
        """Add one to the anonymous counter (club, ISO week, name): an outcome's level, or
        `helpful`/`unhelpful`. Counters name no one and never expire."""

    async def counts(self) -> list[tuple[str, str, str, int]]:
        """Every counter as (club, week, name, count)."""

    async def sweep(self) -> int:
        """Delete expired conversations and event ids now; returns how many rows went."""

    async def check(self) -> None:
        """Raise StoreError unless the store can be reached and written (start-up's check)."""

    async def close(self) -> None: ...


def platform_of(key: str) -> str:
    """The platform a conversation key belongs to (`slack` of `slack:T1:U1`)."""
    return key.split(":", 1)[0]


def names_user(event_id: str, user: str) -> bool:
    """Whether an event id names this user as one of its `:`-separated parts."""
    return f":{user}:" in f":{event_id}:"


def names_workspace(event_id: str, platform: str, workspace: str) -> bool:
    """Whether an event id of this platform names the workspace (`slack:cmd:<team>:...`)."""
    return event_id.startswith(f"{platform}:") and names_user(event_id, workspace)


def in_workspace(key: str, platform: str, workspace: str) -> str | None:
    """Whether a row's key is kept under `<platform>:<workspace>`: a conversation
    (`[prefix:]platform:workspace:user`, answering its user) or a workspace's own row
    (`prefix:platform:workspace`, answering ""). None when it is not."""
    parts = key.split(":")
    if len(parts) >= 3 and parts[-3:-1] == [platform, workspace]:
        return parts[-1]
    if len(parts) >= 3 and parts[-2:] == [platform, workspace]:
        return ""
    return None


def leave_signals_to_main() -> None:
    """Block Ctrl-C and SIGTERM in the calling worker thread. The kernel hands a process's signal
    to any thread that does not block it; one handled on a worker leaves the main thread asleep in
    its read (`kneebot chat` waiting at its prompt) until the next key, so Ctrl-C seemed lost."""
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


class Sweeper:
    """A daemon thread that calls `work` every `every` seconds until stopped: retention kept by
    time, whether or not the bot is busy. `work` must be safe to call from another thread."""

    def __init__(self, every: float, work: Callable[[], object]) -> None:
        self._every = every
        self._work = work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kneebot-sweep", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        leave_signals_to_main()
        while not self._stop.wait(self._every):
            try:
                self._work()
            except Exception as exc:
                _log.warning("the retention sweep failed (%s); trying again later", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return url


def open_store(url: str, clock: Clock | None = None, *, sweep_every: float | None = None) -> Store:
    """A store for a URL. Raises ConfigError for a URL no backend understands. With `sweep_every`
    (seconds), expired rows are deleted on that timer (Redis expires them by itself)."""
    if url == "memory://" or url.startswith("memory://"):
        from bot.stores.memory import MemoryStore

        return MemoryStore(clock=clock, sweep_every=sweep_every)
    if url.startswith("sqlite:///"):
        from bot.stores.sqlite import SQLiteStore

        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError(f"KNEEBOT_STORE={url!r} names no file; try sqlite:////abs/path.db")
        return SQLiteStore(Path(path).expanduser(), clock=clock, sweep_every=sweep_every)
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from bot.stores.redis import RedisStore

        return RedisStore.cluster(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from bot.stores.redis import RedisStore

        try:
            return RedisStore(url)
        except ValueError as exc:
            raise ConfigError(f"KNEEBOT_STORE={_shown(url)!r} cannot be used: {exc}") from None
    raise ConfigError(
        f"KNEEBOT_STORE={_shown(url)!r} is not a store kneebot knows; "
        "use memory://, sqlite:///path/to/file.db, redis://host:6379/0 or redis+cluster://host:6379"
    )
