"""`kneebot slack` as a newcomer runs it: clear errors without tokens, and a real HTTP server with them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.slack import mrkdwn
from bot.content import Content
from tests.slack_double import SlackApi, SlackClient, spawn_worker
from tests.slack_triage import whole_triage
from tests.test_slack import ANSWERS, terminal_outcome
from tests.transcript import kneebot_command


def test_missing_tokens_are_named() -> None:
    socket_mode = subprocess.run([*kneebot_command(), "slack"], capture_output=True, text=True, timeout=30)
    assert socket_mode.returncode == 2
    assert "SLACK_BOT_TOKEN" in socket_mode.stderr
    assert "SLACK_APP_TOKEN" in socket_mode.stderr
    http = subprocess.run([*kneebot_command(), "slack", "--http"], capture_output=True, text=True, timeout=30)
    assert http.returncode == 2
    assert "SLACK_SIGNING_SECRET" in http.stderr


def test_the_hosted_app_needs_http_and_a_store_that_lasts() -> None:
    import os

    hosted = {**os.environ, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x"}
    socket_mode = subprocess.run(
        [*kneebot_command(), "slack"], capture_output=True, text=True, timeout=30, env=hosted
    )
    assert socket_mode.returncode == 2
    assert socket_mode.stderr.strip().splitlines() == [
        "kneebot: Add to Slack (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET) runs with --http"
    ]
    # Installs must outlive the process: a store that does not is refused at start.
    from adapters.slack_install import oauth_settings
    from bot.errors import ConfigError
    from bot.stores import open_store

    with pytest.raises(ConfigError, match="needs a store that lasts"):
        oauth_settings(open_store("memory://"), client_id="1.2", client_secret="s")


@pytest.fixture
async def served() -> AsyncIterator[SlackClient]:
    api = SlackApi()
    api_url = await api.start()
    process, url = await spawn_worker(api_url, "memory://")
    try:
        yield SlackClient(url, api)
    finally:
        process.terminate()
        await process.wait()
        await api.stop()


async def test_http_mode_serves_signed_requests_and_refuses_forged_ones(served: SlackClient) -> None:
    assert await served.command("help") == (200, "")
    [helped] = await served.api.wait_for("response_url", 1)
    assert "/knee check" in helped["text"]
    status, _ = await served.command("help", secret="wrong")
    assert status == 401
    await served.api.settle()
    assert len(served.api.made("response_url")) == 1, "a forged request is answered with nothing"
    status, _ = await served.command("")
    assert status == 200
    [intro] = await served.api.wait_for("chat.postMessage", 1)
    assert "automated assistant" in intro["text"]


async def test_a_whole_triage_through_the_http_process(tmp_path: Path, content: Content) -> None:
    api = SlackApi()
    api_url = await api.start()
    log = tmp_path / "kneebot.log"
    process, url = await spawn_worker(api_url, f"sqlite:///{tmp_path / 'kneebot.db'}", log)
    try:
        outcome = await whole_triage(SlackClient(url, api), content, ANSWERS)
        assert outcome["text"] == mrkdwn(terminal_outcome(content, ANSWERS))
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await api.stop()
    stderr = log.read_text()
    assert "kneebot: Slack HTTP mode on http://127.0.0.1:" in stderr
    assert "Traceback" not in stderr
    assert "token will be unused" not in stderr
