"""`kneebot slack` as a newcomer runs it: clear errors without tokens, and a real HTTP server with them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from collections.abc import AsyncIterator

import pytest

from tests.slack_double import SECRET, SlackApi, SlackClient
from tests.transcript import kneebot_command


def test_missing_tokens_are_named() -> None:
    socket_mode = subprocess.run([*kneebot_command(), "slack"], capture_output=True, text=True, timeout=30)
    assert socket_mode.returncode == 2
    assert "SLACK_BOT_TOKEN" in socket_mode.stderr
    assert "SLACK_APP_TOKEN" in socket_mode.stderr
    http = subprocess.run([*kneebot_command(), "slack", "--http"], capture_output=True, text=True, timeout=30)
    assert http.returncode == 2
    assert "SLACK_SIGNING_SECRET" in http.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def served() -> AsyncIterator[SlackClient]:
    api = SlackApi()
    api_url = await api.start()
    port = free_port()
    env = {
        **os.environ,
        "KNEEBOT_STORE": "memory://",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
    }
    process = await asyncio.create_subprocess_exec(
        *kneebot_command(), "slack", "--http", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("kneebot slack --http did not start listening")
        yield SlackClient(f"http://127.0.0.1:{port}/slack/events", api)
    finally:
        process.terminate()
        await process.wait()
        await api.stop()


async def test_http_mode_serves_signed_requests_and_refuses_forged_ones(served: SlackClient) -> None:
    status, body = await served.command("help")
    assert status == 200
    assert "/knee check" in json.loads(body)["text"]
    status, _ = await served.command("help", secret="wrong")
    assert status == 401
    status, _ = await served.command("")
    assert status == 200
    [intro] = await served.api.wait_for("chat.postMessage", 1)
    assert "automated assistant" in intro["text"]
