"""Slack when things go wrong: rate limits, a reply that cannot be sent, a locked store, files."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from adapters.slack import build_app
from bot.content import ContentSource
from bot.conversations import Conversations
from bot.stores import open_store
from tests.conftest import CONSTANTS
from tests.slack_double import SECRET, SlackApi, SlackClient, spawn_worker
from tests.slack_triage import asked
from tests.test_slack_socket_mode import Bot, start_bot


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    started = await start_bot(tmp_path)
    try:
        yield started
    finally:
        if started.process.returncode is None:
            started.process.kill()
            await started.process.wait()
        await started.socket.stop()
        await started.api.stop()


async def test_a_rate_limited_reply_after_a_click_still_arrives(bot: Bot) -> None:
    await bot.runner.command("")
    await bot.runner.click(await asked(bot.api, 1), "start")
    first = await asked(bot.api, 2)
    bot.api.ratelimit("chat.postMessage")  # 429 ratelimited, Retry-After: 1
    await bot.runner.click(first, ["none"])
    onset = await asked(bot.api, 3)
    assert [call.method for call in bot.api.refused] == ["chat.postMessage"]
    assert "How did the pain start?" in onset["text"], "sent again after Retry-After"
    assert await bot.stop() == 0
    assert "could not be sent" not in bot.log.read_text()


async def wait_for_line(log: Path, text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{log.read_text()}")


async def test_a_reply_that_cannot_be_sent_is_sent_on_the_next_event_by_any_worker(tmp_path: Path) -> None:
    api = SlackApi()
    api_url = await api.start()
    store = f"sqlite:///{tmp_path / 'kneebot.db'}"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    (a, url_a), (b, url_b) = [await spawn_worker(api_url, store, log) for log in logs]
    try:
        runner = SlackClient(url_a, api)
        await runner.command("")
        await runner.click(await asked(api, 1), "start")
        first = await asked(api, 2)
        api.ratelimit("chat.postMessage", 2)  # still limited after the client's own retry
        await runner.click(first, ["none"])
        line = await wait_for_line(logs[0], "could not be sent")
        assert line == (
            "WARNING adapters.slack: a reply could not be sent (ratelimited); "
            "1 message(s) kept for the runner's next event"
        )
        assert len(api.made("chat.postMessage")) == 2, "the runner has seen nothing yet"
        # Their next event reaches the other worker: they get the question they missed, and what
        # they typed without seeing it is not taken as its answer.
        runner.url = url_b
        await runner.dm("gradually")
        onset = await asked(api, 3)
        assert "How did the pain start?" in onset["text"]
        assert "Got it" not in onset["text"]
        await runner.click(onset, "gradual")
        after = await asked(api, 4)
        assert "How long ago" in after["text"] or "days" in after["text"], after["text"]
        await runner.dm("3 weeks")
        assert "Got it: 21 days ago." in (await asked(api, 5))["text"], "nothing re-sent twice"
    finally:
        for process in (a, b):
            process.terminate()
            await process.wait()
        await api.stop()
    assert "How did the pain start" not in logs[0].read_text() + logs[1].read_text()


async def test_acks_come_within_slacks_budget_while_the_store_is_locked(tmp_path: Path) -> None:
    bot = await start_bot(tmp_path)
    locker = None
    try:
        await bot.runner.command("")
        await bot.runner.click(await asked(bot.api, 1), "start")
        first = await asked(bot.api, 2)
        # Another process holds the SQLite file's write lock.
        locker = sqlite3.connect(tmp_path / "kneebot.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        # Each send waits at most Slack's 3 seconds for the ack.
        assert await bot.runner.command("forget") == {}
        await bot.runner.click(first, ["none"])
        await bot.runner.dm("none of these")
        assert "direct message" in (await bot.runner.command(""))["text"]
        locker.rollback()
        [said] = await bot.api.wait_for("response_url", 1, timeout=15)
        assert "deleted everything" in said["text"], "forget still answered, once the file was free"
    finally:
        if locker is not None:
            locker.close()
        if bot.process.returncode is None:
            bot.process.kill()
            await bot.process.wait()
        await bot.socket.stop()
        await bot.api.stop()


@pytest.fixture(params=["memory"])
async def slack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SlackClient]:
    api = SlackApi()
    api_url = await api.start()
    store = open_store("memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'k.db'}")
    service = Conversations(ContentSource(None, CONSTANTS), store, timedelta(hours=24))
    app = build_app(service, token="xoxb-test", signing_secret=SECRET, api_url=api_url)
    server = TestServer(app.web_app())
    await server.start_server()
    try:
        yield SlackClient(str(server.make_url("/slack/events")), api)
    finally:
        await server.close()
        await api.stop()
        await store.close()


@pytest.mark.parametrize("slack", ["sqlite"], indirect=True)
async def test_a_kept_reply_is_sent_once_however_many_events_arrive_at_once(slack: SlackClient) -> None:
    await slack.command("")
    await slack.click(await asked(slack.api, 1), "start")
    first = await asked(slack.api, 2)
    slack.api.ratelimit("chat.postMessage", 2)
    await slack.click(first, ["none"])

    async def refused_twice() -> None:  # the first try, and the client's own retry after Retry-After
        while len(slack.api.refused) < 2:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(refused_twice(), 15)
    await slack.api.settle(quiet=0.5)  # the reply is kept
    await asyncio.gather(slack.click(first, ["none"]), slack.dm("hello?"), slack.dm("hello??"))
    await slack.api.settle()
    onset = [m for m in slack.api.made("chat.postMessage") if "How did the pain start?" in m["text"]]
    assert len(onset) >= 1
    assert len([m for m in onset if not m["text"].startswith(("Sorry", "That answer"))]) == 1, [
        m["text"][:60] for m in onset
    ]


async def test_a_reply_slack_refuses_for_good_is_not_kept(slack: SlackClient) -> None:
    await slack.command("")
    await slack.click(await asked(slack.api, 1), "start")
    first = await asked(slack.api, 2)
    slack.api.refuse("chat.postMessage", "invalid_blocks")  # sending it again would fail again
    await slack.click(first, ["none"])
    await slack.api.settle()
    assert len(slack.api.refused) == 1
    await slack.dm("gradually")  # taken as the answer it is, not swallowed by a re-send
    assert (await asked(slack.api, 3))["text"].startswith("Got it: Gradually")


async def test_an_html_error_page_from_slack_loses_no_reply(slack: SlackClient) -> None:
    slack.api.break_once("users.info")  # the runner's language cannot be asked: a proxy's 502 page
    status, _ = await slack.command("")
    assert status == 200
    intro = await asked(slack.api, 1)
    assert "automated assistant" in intro["text"], "the intro comes in the default language"


IMAGE = [{"id": "F0PHOTO", "name": "knee.jpg", "mimetype": "image/jpeg", "filetype": "jpg"}]


async def test_a_dm_with_a_file_is_read_as_its_text(slack: SlackClient) -> None:
    await slack.command("")
    await slack.click(await asked(slack.api, 1), "start")
    await asked(slack.api, 2)
    status, _ = await slack.dm("none of these", files=IMAGE)
    assert status == 200
    reply = await asked(slack.api, 3)
    assert reply["text"].startswith("Got it: None of these.")
    assert "How did the pain start?" in reply["text"]


async def test_a_file_without_text_gets_a_word_and_the_question_again(slack: SlackClient) -> None:
    await slack.command("")
    await slack.click(await asked(slack.api, 1), "start")
    question = await asked(slack.api, 2)
    await slack.dm("", files=IMAGE)
    reply = await asked(slack.api, 3)
    assert reply["text"].startswith("Sorry, I couldn't read that message. I can only read typed text")
    assert question["text"] in reply["text"], "the same question, asked again"
    boxes = json.dumps(question["blocks"]).count("knee_multi")
    assert boxes > 0
    assert json.dumps(reply["blocks"]).count("knee_multi") == boxes
