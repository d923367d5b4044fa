"""What is kept on disk and for how long: private files, deleted bytes, retention by time, forget."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.content import Content
from bot.conversations import Conversations
from bot.model import ConversationKey, Event
from bot.stores import open_store
from tests.conftest import NOW
from tests.redis_server import RedisServer, free_port, require_redis
from tests.test_content import run
from tests.transcript import Bot

USER = "UPRIVATE7"  # a distinctive user id, searched for in files and keys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def _walk_to_days(runner: Bot) -> None:
    runner.read_turn()
    runner.send({"value": "start"})
    runner.send({"value": ["none"]})
    assert runner.send({"text": "gradually"})[-1]["fact"] == "days_since_onset"


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll for something the bot does on its own timer; the deadline is only a hang guard."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_state_folder_and_every_sqlite_file_are_private(bot: Callable[..., Bot], tmp_path: Path) -> None:
    folder = tmp_path / "state" / "kneebot"
    db = folder / "kneebot.db"
    runner = bot(KNEEBOT_STORE=f"sqlite:///{db}")
    _walk_to_days(runner)  # the process is still running: the -wal and -shm files exist
    assert _mode(folder) == 0o700
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert path.exists(), path
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"


def test_an_older_installs_open_files_are_made_private(bot: Callable[..., Bot], tmp_path: Path) -> None:
    folder = tmp_path / "kneebot"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    db = folder / "kneebot.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    runner = bot(KNEEBOT_STORE=f"sqlite:///{db}")
    _walk_to_days(runner)
    assert _mode(folder) == 0o700
    assert _mode(db) == 0o600
    assert _mode(Path(f"{db}-wal")) == 0o600


def test_a_shared_folder_is_left_as_it_is(bot: Callable[..., Bot], tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    (tmp_path / "notes.txt").write_text("someone else's")
    runner = bot(KNEEBOT_STORE=f"sqlite:///{tmp_path / 'kneebot.db'}")
    _walk_to_days(runner)
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "kneebot.db") == 0o600


def test_forgotten_answers_leave_the_database_and_the_wal(bot: Callable[..., Bot], tmp_path: Path) -> None:
    db = tmp_path / "kneebot.db"
    runner = bot(KNEEBOT_STORE=f"sqlite:///{db}")
    _walk_to_days(runner)
    runner.send({"text": "3 weeks"})
    assert b'"onset":"gradual"' in _bytes(db), "the answers were saved"
    assert "deleted everything" in runner.send({"text": "forget"})[-1]["text"]
    # Still running, with its connection open: nothing of the conversation is left in either file.
    left = _bytes(db)
    assert b"gradual" not in left
    assert b"terminal:local:runner" not in left


def test_a_quiet_bot_deletes_expired_conversations_on_its_timer(
    bot: Callable[..., Bot], tmp_path: Path
) -> None:
    db = tmp_path / "kneebot.db"
    # Kept for 1.8 seconds, swept every 0.3 seconds.
    runner = bot(
        KNEEBOT_STORE=f"sqlite:///{db}", KNEEBOT_RETENTION_HOURS="0.0005", KNEEBOT_SWEEP_MINUTES="0.005"
    )
    _walk_to_days(runner)
    with sqlite3.connect(db) as other:  # an event id from another worker, long expired
        other.execute("INSERT INTO events (id, expires) VALUES ('slack:evt:Ev1', 0)")

    def rows() -> tuple[int, int]:
        with sqlite3.connect(db) as look:
            conversations = look.execute("SELECT count(*) FROM conversations").fetchone()[0]
            events = look.execute("SELECT count(*) FROM events").fetchone()[0]
        return conversations, events

    assert rows()[0] == 1
    _wait_for(lambda: rows() == (0, 0), "the idle bot never swept its expired rows")
    assert runner.process.poll() is None, "swept by the running bot, not at exit"
    _wait_for(lambda: b"gradual" not in _bytes(db), "the swept answers stayed in the files")


async def test_a_sweep_deletes_what_has_expired_on_each_store(tmp_path: Path) -> None:
    now = [1000.0]
    for url in ("memory://", f"sqlite:///{tmp_path / 'k.db'}"):
        store = open_store(url, clock=lambda: now[0])
        await store.compare_and_set("a:b:old", None, "x", ttl=10)
        await store.first_sighting("slack:evt:old", ttl=10)
        await store.compare_and_set("a:b:new", None, "x", ttl=100)
        now[0] += 50
        assert await store.sweep() == 2, url
        assert await store.get("a:b:new") is not None
        assert await store.first_sighting("slack:evt:old", ttl=10), "the expired id was deleted"
        await store.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush()
        return server.url
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'kneebot.db'}"


async def _remember(service: Conversations) -> None:
    """A runner in two workspaces, with click ids that name them, and someone else."""
    for workspace in ("T1", "T2"):
        key = ConversationKey("slack", workspace, USER)
        await service.handle(key, Event("answer", NOW, id=f"slack:act:{USER}:1.{workspace}", value="start"))
        await service.handle(key, Event("answer", NOW, id=f"slack:act:{USER}:2.{workspace}", value=["none"]))
    other = ConversationKey("slack", "T1", "UOTHER")
    await service.handle(other, Event("answer", NOW, id="slack:act:UOTHER:1.1", value="start"))


def _leftovers(url: str) -> list[str]:
    """Every key or row anywhere in the store that names the user."""
    if url.startswith("redis://"):
        import redis

        with redis.Redis.from_url(url, decode_responses=True) as client:
            return [str(k) for k in client.scan_iter(match=f"*{USER}*")]
    path = url[len("sqlite:///") :]
    with sqlite3.connect(path) as db:
        keys = db.execute("SELECT key FROM conversations WHERE key LIKE ?", (f"%{USER}%",)).fetchall()
        ids = db.execute("SELECT id FROM events WHERE id LIKE ?", (f"%{USER}%",)).fetchall()
    return [row[0] for row in keys + ids]


async def test_a_runners_forget_deletes_every_key_that_names_them(store_url: str, content: Content) -> None:
    store = open_store(store_url)
    service = Conversations(content, store, retention=timedelta(hours=24))
    await _remember(service)
    if store_url != "memory://":
        assert len(_leftovers(store_url)) == 6
    replies = await service.handle(ConversationKey("slack", "T1", USER), Event("text", NOW, text="forget"))
    assert "deleted everything" in replies[-1].text
    if store_url != "memory://":
        assert _leftovers(store_url) == []
    assert await store.first_sighting(f"slack:act:{USER}:1.T1", 60), "the click id was deleted"
    assert await store.get(f"slack:T2:{USER}") is None
    assert await store.get("slack:T1:UOTHER") is not None, "only that runner"
    assert not await store.first_sighting("slack:act:UOTHER:1.1", 60), "only that runner's ids"
    await store.close()


def test_admin_forget_deletes_every_key_that_names_the_user(store_url: str, content: Content) -> None:
    if store_url == "memory://":
        pytest.skip("a memory store lives in one process; there is nothing for an admin to reach")

    async def remember() -> None:
        store = open_store(store_url)
        await _remember(Conversations(content, store, retention=timedelta(hours=24)))
        await store.close()

    asyncio.run(remember())
    done = run("forget", "--user", USER, env={"KNEEBOT_STORE": store_url})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"deleted 2 conversations of user {USER!r}\n"
    assert _leftovers(store_url) == []
    if store_url.startswith("sqlite"):
        assert USER.encode() not in _bytes(Path(store_url[len("sqlite:///") :]))


def _one_line_failure(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kneebot: ")
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("store", "said"),
    [
        ("sqlite:///{tmp}/a-file/kneebot.db", "cannot open the SQLite store"),
        ("sqlite:///{tmp}", "cannot open the SQLite store"),
        ("sqlite:////proc/kneebot.db", "cannot open the SQLite store"),
        ("redis://127.0.0.1:notaport/0", "notaport"),
        ("redis://:hunter2@127.0.0.1:{closed}/0", "ConnectionError"),
    ],
    ids=["under-a-file", "a-folder", "proc", "notaport", "redis-down"],
)
@pytest.mark.parametrize("command", [["chat", "--json"], ["forget", "--user", "U1"]])
def test_an_unusable_store_stops_start_up_with_one_line(
    tmp_path: Path, store: str, said: str, command: list[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    url = store.format(tmp=tmp_path, closed=free_port())
    done = run(*command, env={"KNEEBOT_STORE": url})
    _one_line_failure(done, said)
    assert "hunter2" not in done.stderr


def test_redis_is_pinged_with_its_auth_at_start(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [require_redis(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path),
         "--requirepass", "right-password"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wrong = f"redis://:wrong-password@127.0.0.1:{port}/0"
        _wait_for(
            lambda: "Connect" not in run("chat", "--json", env={"KNEEBOT_STORE": wrong}).stderr, "no redis"
        )
        done = run("chat", "--json", env={"KNEEBOT_STORE": wrong})
        _one_line_failure(done, "Redis store ping failed", "AuthenticationError")
        assert "wrong-password" not in done.stderr
        right = run("chat", "--json", env={"KNEEBOT_STORE": f"redis://:right-password@127.0.0.1:{port}/0"})
        assert right.returncode == 0, right.stderr
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("port", ["99999", "in-use"])
def test_a_port_that_cannot_be_served_is_one_line(port: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = port if port != "in-use" else str(taken.getsockname()[1])
        done = run(
            "slack", "--http", "--host", "127.0.0.1", "--port", number,
            env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"},
        )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("kneebot: ")
    assert ("0-65535" in last) if port == "99999" else ("address already in use" in last)


@pytest.mark.parametrize(
    ("args", "said"),
    [(["chat", "--bogus"], "No such option: --bogus"), (["ask"], "Missing argument")],
)
def test_usage_errors_are_one_line(args: list[str], said: str) -> None:
    _one_line_failure(run(*args), said)


async def test_event_ids_are_kept_for_an_hour(content: Content) -> None:
    now = [1000.0]
    store = open_store("memory://", clock=lambda: now[0])
    service = Conversations(content, store, retention=timedelta(hours=24))
    runner = ConversationKey("slack", "T1", USER)
    await service.handle(runner, Event("answer", NOW, value="start"))
    click = Event("answer", NOW, id=f"slack:act:{USER}:1.1", value=["none"], fact="red_flags")
    assert await service.handle(runner, click)
    now[0] += 3599
    assert await service.handle(runner, click) == [], "a repeat within the hour is dropped"
    now[0] += 2
    assert await store.sweep() == 1, "after an hour the id is gone"
    await store.close()
