"""The store interface, the same behaviour on every backend: save, conflict, expiry, forget, dedupe."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.content import Content
from bot.conversations import Conversations
from bot.errors import ConfigError
from bot.model import ConversationKey, Event, State
from bot.stores import Store, open_store
from tests.conftest import NOW


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    store: Store
    advance: Callable[[float], Awaitable[None]]
    """Let time pass: a fake clock for memory and SQLite, real seconds for Redis's own expiry."""


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = Clock()

    async def tick(seconds: float) -> None:
        clock.now += seconds

    if request.param.startswith("redis"):
        # A cluster refuses any command whose keys span hash slots, so this proves each does not.
        server = request.getfixturevalue(
            "redis_cluster" if request.param == "redis-cluster" else "redis_server"
        )
        server.flush()
        opened = open_store(server.url)
        yield Backend(opened, asyncio.sleep)
    else:
        url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'kneebot.db'}"
        opened = open_store(url, clock=clock)
        yield Backend(opened, tick)
    await opened.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store


async def test_compare_and_set(store: Store) -> None:
    assert await store.get("k") is None
    assert await store.compare_and_set("k", None, "one", ttl=60)
    first = await store.get("k")
    assert first is not None
    assert first.data == "one"
    assert not await store.compare_and_set("k", None, "again", ttl=60), "a second creator loses"
    assert await store.compare_and_set("k", first.version, "two", ttl=60)
    assert not await store.compare_and_set("k", first.version, "stale", ttl=60), "a stale writer loses"
    second = await store.get("k")
    assert second is not None
    assert second.data == "two"


async def test_expiry(backend: Backend) -> None:
    store = backend.store
    assert await store.compare_and_set("k", None, "one", ttl=0.3)
    old = await store.get("k")
    assert old is not None
    await backend.advance(0.4)
    assert await store.get("k") is None
    assert not await store.compare_and_set("k", old.version, "late", ttl=0.3), "an expired row is gone"
    assert await store.compare_and_set("k", None, "fresh", ttl=0.3)
    fresh = await store.get("k")
    assert fresh is not None
    assert fresh.version != old.version, "a stale writer can never match the new conversation"


async def test_delete(store: Store) -> None:
    assert await store.compare_and_set("k", None, "one", ttl=60)
    await store.delete("k")
    assert await store.get("k") is None
    await store.delete("never-there")


async def test_first_sighting(backend: Backend) -> None:
    store = backend.store
    assert await store.first_sighting("evt-1", ttl=0.3)
    assert not await store.first_sighting("evt-1", ttl=0.3)
    assert await store.first_sighting("evt-2", ttl=0.3)
    await backend.advance(0.4)
    assert await store.first_sighting("evt-1", ttl=0.3)


def key(user: str = "U1") -> ConversationKey:
    return ConversationKey("test", "T1", user)


async def test_retention_applies_to_conversations(backend: Backend, content: Content) -> None:
    service = Conversations(content, backend.store, retention=timedelta(seconds=1))
    await service.handle(key(), Event("answer", NOW, value="start"))
    await service.handle(key(), Event("answer", NOW, value=["none"]))
    await backend.advance(0.5)
    resumed = await service.handle(key(), Event("start", NOW))
    assert [c.value for c in resumed[-1].question.choices] == ["resume", "start"]  # type: ignore[union-attr]
    await backend.advance(1.2)  # past the retention after the last save (the resume prompt)
    fresh = await service.handle(key(), Event("start", NOW))
    assert [c.value for c in fresh[-1].question.choices] == ["start"]  # type: ignore[union-attr]
    assert "I'm **kneebot**" in fresh[-1].text


async def test_forget_user_reaches_every_workspace(store: Store, content: Content) -> None:
    service = Conversations(content, store, retention=timedelta(hours=24))
    for place in (key(), ConversationKey("test", "T2", "U1"), key("U2"), key("xU1")):
        await service.handle(place, Event("answer", NOW, value="start"))
    assert await store.forget_user("U1") == 2
    assert await store.get(str(key())) is None
    assert await store.get("test:T2:U1") is None
    assert await store.get(str(key("U2"))) is not None
    assert await store.get(str(key("xU1"))) is not None, "only that exact user id"


async def test_forget_removes_the_conversation(store: Store, content: Content) -> None:
    service = Conversations(content, store, retention=timedelta(hours=24))
    await service.handle(key(), Event("answer", NOW, value="start"))
    await service.handle(key(), Event("answer", NOW, value=["none"]))
    await service.handle(key("U2"), Event("answer", NOW, value="start"))
    await service.handle(key(), Event("forget", NOW))
    assert await store.get(str(key())) is None
    assert await store.get(str(key("U2"))) is not None, "only that runner is forgotten"


async def test_repeated_event_is_applied_once(store: Store, content: Content) -> None:
    service = Conversations(content, store, retention=timedelta(hours=24))
    await service.handle(key(), Event("answer", NOW, value="start"))
    first = await service.handle(key(), Event("answer", NOW, id="e1", value=["none"]))
    again = await service.handle(key(), Event("answer", NOW, id="e1", value=["none"]))
    assert first[-1].question is not None
    assert first[-1].question.fact == "onset"
    assert again == []
    stored = await store.get(str(key()))
    assert stored is not None
    assert '"asking":"onset"' in stored.data


async def test_a_double_click_advances_once(store: Store, content: Content) -> None:
    service = Conversations(content, store, retention=timedelta(hours=24))
    await service.handle(key(), Event("answer", NOW, value="start"))
    clicks = [Event("answer", NOW, id=f"c{i}", value=["none"], fact="red_flags") for i in range(2)]
    turns = await asyncio.gather(*(service.handle(key(), click) for click in clicks))
    asked = sorted(turn[-1].question.fact for turn in turns)  # type: ignore[union-attr]
    assert asked == ["onset", "onset"], "the late click re-shows the current question"
    stored = await store.get(str(key()))
    assert stored is not None
    assert '"asking":"onset"' in stored.data


async def test_state_holds_facts_not_text(store: Store, content: Content) -> None:
    service = Conversations(content, store, retention=timedelta(hours=24))
    await service.handle(key(), Event("answer", NOW, value="start"))
    await service.handle(key(), Event("text", NOW, text="zebra-phrase"))
    await service.handle(key(), Event("text", NOW, text="none of these"))
    await service.handle(key(), Event("text", NOW, text="zebra-phrase it crept up gradually"))
    stored = await store.get(str(key()))
    assert stored is not None
    assert "zebra" not in stored.data
    assert '"onset":"gradual"' in stored.data


def test_a_state_copy_changes_only_what_it_names_and_reads_back_from_json() -> None:
    state = State(facts={"onset": "gradual"}, asking="age", content="v1", started=1.0)
    moved = state.evolve({"asking": "symptoms"}, updated=2.0)
    assert (moved.asking, moved.updated, moved.facts, moved.started) == (
        "symptoms",
        2.0,
        {"onset": "gradual"},
        1.0,
    )
    assert (state.asking, state.updated) == ("age", 0.0), "the original is left as it was"
    with pytest.raises(TypeError, match="no field 'askng'"):
        state.evolve(askng="symptoms")
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.asking = "age"  # type: ignore[misc]
    assert State.from_json(moved.to_json()) == moved


def test_sqlite_purges_expired_rows(tmp_path: Path) -> None:
    path = tmp_path / "kneebot.db"
    clock = Clock()

    async def scenario() -> None:
        store = open_store(f"sqlite:///{path}", clock=clock)
        await store.compare_and_set("k", None, "one", ttl=60)
        await store.close()
        clock.now += 61
        reopened = open_store(f"sqlite:///{path}", clock=clock)
        await reopened.get("other")  # opening purges
        await reopened.close()

    asyncio.run(scenario())
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM conversations").fetchone()
    assert rows == (0,)


@pytest.mark.parametrize("url", ["postgres://x", "sqlite:///", "", "redis"])
def test_unknown_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="KNEEBOT_STORE"):
        open_store(url)


async def test_a_save_whose_answer_was_lost_is_not_applied_twice(content: Content) -> None:
    """Redis ran the save, the connection dropped before its answer, the client re-sent it and
    the re-send found the version moved on: the answer is taken once, and the runner moves on."""
    from bot.stores.memory import MemoryStore

    class LostAnswer(MemoryStore):
        lose = False

        async def compare_and_set(self, key: str, expected: int | None, data: str, ttl: float) -> bool:
            saved = await super().compare_and_set(key, expected, data, ttl)
            if saved and self.lose:
                self.lose = False
                return False  # what the re-sent save reports
            return saved

    store = LostAnswer()
    service = Conversations(content, store, timedelta(hours=1))
    key = ConversationKey("test", "w", "runner")
    await service.handle(key, Event("answer", NOW, value="start"))
    for text in ("none", "gradually", "10 days", "34", "none"):
        await service.handle(key, Event("text", NOW, text=text))
    store.lose = True
    # `3` is a pain score here, and would pick the third option (inner) of the next question.
    replies = await service.handle(key, Event("text", NOW, text="3"))
    assert replies[-1].question is not None
    assert replies[-1].question.fact == "pain_location"
    stored = await store.get(str(key))
    assert stored is not None
    assert '"pain_location":' not in stored.data.split('"asking"')[0], "the 3 was not applied again"


async def test_forget_workspace_takes_its_conversations_club_and_event_ids(
    store: Store, content: Content
) -> None:
    service = Conversations(content, store, retention=timedelta(hours=24))
    here, there = ConversationKey("slack", "TGONE", "U1"), ConversationKey("slack", "TSTAYS", "U9")
    await service.handle(here, Event("answer", NOW, id="slack:act:TGONE:U1:1.1", value="start"))
    await service.handle(here, Event("answer", NOW, id="slack:act:U1:2.2", value=["none"]))
    await service.handle(there, Event("answer", NOW, id="slack:act:TSTAYS:U9:1.1", value="start"))
    await service.handle(ConversationKey("discord", "TGONE", "U5"), Event("answer", NOW, value="start"))
    await store.compare_and_set("unsent:slack:TGONE:U1", None, "{}", ttl=60)
    await store.compare_and_set("club:slack:TGONE", None, "{}", ttl=60)
    await store.compare_and_set("club:slack:TSTAYS", None, "{}", ttl=60)
    await store.first_sighting("slack:cmd:TGONE:trigger.1", 60)
    await store.schedule("slack:TGONE:U1", 100.0)  # a check-in its runner accepted
    await store.schedule("slack:TSTAYS:U9", 100.0)
    await store.count("slack:TGONE", "2026-W48", "self_care")
    await store.count("slack:TSTAYS", "2026-W48", "self_care")

    assert await store.forget_workspace("slack", "TGONE") == 1
    assert await store.claim_due("slack", 200.0, lease=60) == ["slack:TSTAYS:U9"], "no check-in is sent"
    assert [c[0] for c in await store.counts()] == ["slack:TSTAYS"], "the club's numbers leave with it"
    for gone in ("slack:TGONE:U1", "unsent:slack:TGONE:U1", "club:slack:TGONE"):
        assert await store.get(gone) is None, gone
    for kept in ("slack:TSTAYS:U9", "club:slack:TSTAYS", "discord:TGONE:U5"):
        assert await store.get(kept) is not None, f"{kept}: another workspace or platform stays"
    for event_id in ("slack:act:TGONE:U1:1.1", "slack:act:U1:2.2", "slack:cmd:TGONE:trigger.1"):
        assert await store.first_sighting(event_id, 60), f"{event_id} was forgotten"
    assert not await store.first_sighting("slack:act:TSTAYS:U9:1.1", 60), "other workspaces' ids stay"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads thread signal masks from /proc")
def test_the_stores_threads_leave_ctrl_c_to_the_main_thread(tmp_path: Path) -> None:
    """The kernel hands Ctrl-C to any thread that does not block it. Handled on a store's worker,
    it left `kneebot chat` asleep at its prompt until the next key."""
    import threading

    def blocked(thread: threading.Thread) -> int:
        status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)

    async def scenario() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'kneebot.db'}", sweep_every=60)
        await store.get("k")  # starts the SQLite worker
        workers = [t for t in threading.enumerate() if t.name.startswith(("kneebot-sqlite", "kneebot-sweep"))]
        assert len(workers) == 2
        for thread in workers:
            assert blocked(thread) & (1 << (signal.SIGINT - 1)), thread.name
            assert blocked(thread) & (1 << (signal.SIGTERM - 1)), thread.name
        assert not blocked(threading.main_thread()) & (1 << (signal.SIGINT - 1))
        await store.close()

    asyncio.run(scenario())
