"""`kneebot discord` as a club runs it: a process, connected to a local gateway and REST double.

A whole triage by slash command, buttons, the multi-select and the "Type my answer" form, with
the bot stopped (SIGTERM) and started again in the middle, and a form opened before the restart
submitted after it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.content import Content
from tests.discord_double import check_discord_limits
from tests.discord_gateway import TOKEN, LiveDiscord, Runner, components, start_bot, stop_bot
from tests.test_slack import ANSWERS, terminal_outcome
from tests.transcript import kneebot_command


@dataclass
class Bot:
    discord: LiveDiscord
    api_url: str
    store: str
    db: Path
    log: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    async def start(self, *args: str, **env: str) -> None:
        self.process = await start_bot(self.api_url, self.store, self.log, *args, **env)
        self.starts += 1
        exited = asyncio.ensure_future(self.process.wait())
        connected = asyncio.ensure_future(self.discord.connected(self.starts))
        await asyncio.wait([exited, connected], return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if not connected.done():
            connected.cancel()
            raise AssertionError(f"the bot exited: {self.log.read_text()[-2000:]}")
        connected.result()

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        code = await stop_bot(self.process, signum)
        self.process = None
        return code


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    discord = LiveDiscord()
    api_url = await discord.start()
    db = tmp_path / "kneebot.db"
    harness = Bot(discord, api_url, f"sqlite:///{db}", db, tmp_path / "bot.log")
    try:
        yield harness
    finally:
        if harness.process is not None:
            harness.process.kill()
            await harness.process.wait()
        await discord.stop()
    for sent in discord.sent:
        check_discord_limits(sent.body)


def fact_of(message: dict[str, Any]) -> str | None:
    for component in components(message):
        parts = component["custom_id"].split(":")
        if parts[1] in ("p", "m", "n") and parts[2]:
            return parts[2]
    return None


async def answer(runner: Runner, content: Content, message: dict[str, Any], fact: str) -> dict[str, Any]:
    """Answer the question `message` asks, the way a runner would on Discord."""
    assert fact_of(message) == fact, message["content"]
    if content.facts[fact].kind != "number":
        return await runner.click(message, ANSWERS[fact])
    form = await runner.open_form(message)
    [row] = form["components"]
    assert row["components"][0]["label"] == content.facts[fact].summary, (
        "the field is labelled with the question"
    )
    return await runner.submit(form, ANSWERS[fact])


async def test_a_whole_triage_across_a_restart_of_the_bot(bot: Bot, content: Content) -> None:
    await bot.start("--sync")
    session = bot.discord.sessions[0]
    assert session.query["v"] == "10"
    assert session.query["encoding"] == "json"
    assert session.identify is not None
    assert session.identify["token"] == TOKEN
    [sync] = [c for c in bot.discord.calls if c.method == "PUT"]
    [knee] = sync.body
    assert knee["name"] == "knee"
    assert {o["name"] for o in knee["options"]} == {
        "check",
        "help",
        "forget",
        "lookup",
        "mydata",
        "stats",
        "club",
    }

    runner = Runner(bot.discord)
    intro = await runner.command("check")
    assert "automated assistant" in intro["content"]
    assert intro["flags"] & 64, "private in a server"
    message = await runner.click(intro, "start")
    facts = list(ANSWERS)
    for fact in facts[: facts.index("days_since_onset")]:
        message = await answer(runner, content, message, fact)

    # The runner opens the form for "when did it start?"; the bot is redeployed before they submit.
    form = await runner.open_form(message)
    assert await bot.stop() == 0, "SIGTERM is a clean stop"
    assert await bot.discord.disconnected(session) == 1000, "the gateway connection was closed"
    assert not Path(f"{bot.db}-wal").exists(), "the store was closed"
    await bot.start()
    assert len([c for c in bot.discord.calls if c.method == "PUT"]) == 1, "only --sync registers commands"
    message = await runner.submit(form, ANSWERS["days_since_onset"])
    assert fact_of(message) == "age", "the form opened before the restart is answered after it"
    assert "Got it: 21 days ago." in message["content"]

    for fact in facts[facts.index("age") :]:
        message = await answer(runner, content, message, fact)
    assert fact_of(message) is None, "no more questions"
    assert message["embeds"], "the outcome is an embed"
    text = "\n\n".join(e["description"] for e in message["embeds"])
    assert text == terminal_outcome(content, ANSWERS)
    assert message["embeds"][0]["color"] == 0xF2A900
    settled = [s.body for s in bot.discord.sent if s.route == "edit"]
    assert any(e["content"].endswith("✅ Gradually, building up over runs") for e in settled)
    assert await bot.stop() == 0


async def test_two_runners_with_the_same_form_open_are_both_answered(bot: Bot, content: Content) -> None:
    await bot.start()
    runners = [Runner(bot.discord, f"60000000000000000{n}") for n in (1, 2)]
    questions = []
    for runner in runners:
        message = await runner.click(await runner.command("check"), "start")
        message = await runner.click(message, ["none"])
        questions.append(await runner.click(message, "gradual"))
    forms = [await runner.open_form(question) for runner, question in zip(runners, questions, strict=True)]
    assert forms[0]["custom_id"] == forms[1]["custom_id"] == "knee:modal:days_since_onset"
    replies = await asyncio.gather(
        runners[0].submit(forms[0], "3 weeks"), runners[1].submit(forms[1], "10 days")
    )
    assert [fact_of(r) for r in replies] == ["age", "age"]
    assert "Got it: 21 days ago." in replies[0]["content"]
    assert "Got it: 10 days ago." in replies[1]["content"]
    with sqlite3.connect(bot.db) as db:
        assert db.execute("select count(*) from conversations").fetchone() == (2,)


async def test_debug_logs_hold_nothing_typed_or_told(bot: Bot, content: Content) -> None:
    await bot.start(KNEEBOT_LOG_LEVEL="DEBUG")
    runner = Runner(bot.discord)
    told: list[str] = []
    message = await runner.click(await runner.command("check"), "start")
    for fact in ANSWERS:
        told.append(message["content"])
        if fact == "days_since_onset":
            form = await runner.open_form(message)
            again = await runner.submit(form, "purple elephant 7391")
            assert fact_of(again) == fact, "not a number: asked again"
        message = await answer(runner, content, message, fact)
    outcome = "\n\n".join(e["description"] for e in message["embeds"])
    assert await bot.stop() == 0
    log = bot.log.read_text()
    assert "DEBUG" in log, "the log was at DEBUG"
    for typed in ("purple elephant", "7391", "3 weeks"):
        assert typed not in log
    for text in [*told, outcome]:
        for line in filter(None, (line.strip() for line in text.splitlines())):
            assert line[:60] not in log, line


async def test_ctrl_c_closes_the_connection_and_exits_0(bot: Bot) -> None:
    await bot.start()
    assert await bot.stop(signal.SIGINT) == 0
    assert await bot.discord.disconnected(bot.discord.sessions[0]) == 1000
    assert "Traceback" not in bot.log.read_text()


async def test_a_refused_token_is_one_line(bot: Bot) -> None:
    process = await asyncio.create_subprocess_exec(
        *kneebot_command(), "discord", stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DISCORD_TOKEN": "wrong", "DISCORD_API_URL": bot.api_url, "KNEEBOT_STORE": "memory://"},
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "kneebot: Discord connecting",
        "kneebot: Discord: the token was refused; check DISCORD_TOKEN",
    ], "one line, and no warnings about voice support kneebot does not use"


async def test_sharded_the_same_form_is_answered(bot: Bot) -> None:
    await bot.start(DISCORD_SHARDED="true")
    identify = bot.discord.sessions[0].identify
    assert identify is not None
    assert identify["shard"] == [0, 1]
    runner = Runner(bot.discord)
    message = await runner.click(await runner.command("check"), "start")
    message = await runner.click(message, ["none"])
    message = await runner.click(message, "gradual")
    message = await runner.submit(await runner.open_form(message), "3 weeks")
    assert fact_of(message) == "age"
    assert await bot.stop() == 0


async def test_a_triage_typed_in_the_dm(bot: Bot) -> None:
    await bot.start()
    runner = Runner(bot.discord, guild=False)
    intro = await runner.command("check")
    assert not intro["flags"] & 64, "in a DM the messages are plain"
    await runner.click(intro, "start")
    for text in ("none of these", "it crept up gradually"):
        await runner.dm(text)
    message = await runner.dm("about 3 weeks")
    assert fact_of(message) == "age"
    assert "Got it: 21 days ago." in message["content"]


async def test_back_takes_the_last_answer_back(bot: Bot) -> None:
    await bot.start()
    runner = Runner(bot.discord)
    message = await runner.click(await runner.command("check"), "start")
    assert fact_of(message) == "red_flags"
    assert not [c for c in components(message) if c["custom_id"].startswith("knee:b:")], (
        "nothing to take back"
    )
    message = await runner.click(message, ["none"])
    message = await runner.click(message, "injury")
    assert fact_of(message) == "days_since_onset"
    [back] = [c for c in components(message) if c["custom_id"].startswith("knee:b:")]
    assert back["label"] == "Back"
    again = await runner.press(message, back["custom_id"])
    assert fact_of(again) == "onset"
    assert again["content"].startswith("Okay, let's take that one again.")
    # Back on a question already moved past takes nothing back.
    stale = await runner.press(message, back["custom_id"])
    assert fact_of(stale) == "onset"
    assert "earlier question" in stale["content"]
    assert fact_of(await runner.click(again, "gradual")) == "days_since_onset"
