"""`kneebot slack` in Socket Mode (what `make slack` runs), started as a process against a local
Slack: the Web API double hands out a ws:// URL where a Socket Mode server delivers envelopes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.slack import mrkdwn
from bot.content import Content
from tests.slack_double import SlackApi, SocketModeServer, SocketRunner
from tests.slack_triage import asked, whole_triage
from tests.test_slack import ANSWERS, terminal_outcome
from tests.transcript import kneebot_command


@dataclass
class Bot:
    api: SlackApi
    socket: SocketModeServer
    runner: SocketRunner
    process: asyncio.subprocess.Process
    log: Path

    async def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 20)


async def start_bot(tmp_path: Path, **env: str) -> Bot:
    api, socket = SlackApi(), SocketModeServer()
    api_url = await api.start()
    api.socket_url = await socket.start()
    log = tmp_path / "kneebot.log"
    settings = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}", "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_APP_TOKEN": "xapp-test", "SLACK_API_URL": api_url, **env}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *kneebot_command(), "slack", env={**os.environ, **settings},
        stdout=asyncio.subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    try:
        await asyncio.wait_for(socket.connected.wait(), 30)
    except TimeoutError:
        process.kill()
        raise AssertionError(f"kneebot slack never connected:\n{log.read_text()}") from None
    return Bot(api, socket, SocketRunner(socket, api), process, log)


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


async def test_a_whole_triage_over_socket_mode(bot: Bot, content: Content) -> None:
    assert [c.method for c in bot.api.calls][:1] == ["apps.connections.open"]
    outcome = await whole_triage(bot.runner, content, ANSWERS)
    assert outcome["channel"] == "DU0RUNNER"
    assert outcome["text"] == mrkdwn(terminal_outcome(content, ANSWERS))
    assert "*Book a physio, sports doctor or GP in the next few days.*" in outcome["text"]
    # Clicks as Slack sends them edited the question in place; Done read the ticked boxes.
    updates = str(bot.api.made("chat.update"))
    assert "✅ Gradually, building up over runs" in updates
    assert "✅ More miles, or one run much longer than usual, More hills" in updates
    # One HTTP session for every Web API call: its connections are reused, not one per call.
    assert len(bot.api.calls) > 20
    assert len(bot.api.connections) <= 3, bot.api.connections
    assert await bot.stop() == 0, "SIGTERM closes the connection and the store, and exits 0"
    log = bot.log.read_text()
    assert "Traceback" not in log
    assert "kneebot: Slack Socket Mode connected" in log
    assert "token will be unused" not in log


async def test_commands_are_acked_at_once_and_answered_privately(bot: Bot) -> None:
    ack = await bot.runner.command("help")
    assert ack == {}, "help acks at once, before the store is read for the club's words"
    [helped] = await bot.api.wait_for("response_url", 1)
    assert "/knee check" in helped["text"]
    assert helped["response_type"] == "ephemeral"
    ack = await bot.runner.command("")
    assert "direct message" in ack["text"]
    intro = await asked(bot.api, 1)
    assert "automated assistant" in intro["text"]
    ack = await bot.runner.command("forget")
    assert ack == {}, "forget acks at once, before the store"
    said = (await bot.api.wait_for("response_url", 2))[-1]
    assert said["response_type"] == "ephemeral"
    assert "deleted everything" in said["text"]


async def test_sigterm_waits_for_replies_under_way(bot: Bot) -> None:
    await bot.runner.command("")
    await bot.runner.click(await asked(bot.api, 1), "start")
    first = await asked(bot.api, 2)
    bot.api.hold("chat.update", 1.0)  # Slack is slow to edit the answered question
    await bot.runner.click(first, ["none"])  # acked at once
    await bot.api.wait_for("chat.update", 2)
    assert await bot.stop() == 0
    onset = bot.api.made("chat.postMessage")[-1]
    assert "How did the pain start?" in onset["text"], "the next question went out before the exit"


async def test_sigint_also_stops_cleanly(bot: Bot) -> None:
    bot.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(bot.process.wait(), 20) == 0
    assert "Traceback" not in bot.log.read_text()


async def test_a_refused_app_token_is_one_line(tmp_path: Path) -> None:
    api = SlackApi()
    api_url = await api.start()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "not-an-app-token",
           "SLACK_API_URL": api_url, "KNEEBOT_STORE": "memory://"}  # fmt: skip
    try:
        process = await asyncio.create_subprocess_exec(
            *kneebot_command(), "slack", env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await api.stop()
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert lines[-1] == "kneebot: Slack refused the app token (invalid_auth): check SLACK_APP_TOKEN"
    assert "Traceback" not in stderr.decode()


async def test_at_debug_the_log_holds_nothing_typed_or_told(tmp_path: Path, content: Content) -> None:
    bot = await start_bot(tmp_path, KNEEBOT_LOG_LEVEL="DEBUG")
    typed = "three weeks since the Quokkaville relay"
    try:
        outcome = await whole_triage(bot.runner, content, {**ANSWERS, "days_since_onset": typed})
        assert await bot.stop() == 0
    finally:
        await bot.socket.stop()
        await bot.api.stop()
    log = bot.log.read_text()
    assert "DEBUG" in log, "the process did log at DEBUG"
    told = [line for m in bot.api.made("chat.postMessage") for line in m["text"].splitlines()]
    assert "Got it: 21 days ago." in told
    for secret in ["Quokkaville", *[line for line in told if len(line) > 12]]:
        assert secret not in log, secret
    assert "Book a physio" in outcome["text"]
