"""Shared fixtures: a clean environment for every test, the shipped content, a transcript driver."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from bot.content import Content, default_content_dir, load_content
from tests.redis_server import RedisClusterServers, RedisServer
from tests.transcript import Bot

if TYPE_CHECKING:
    from tests.slack_double import SlackApi

# Tuesday 24 November 2026, noon UTC: the fixed "now" of in-process tests.
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONSTANTS = {"emergency_number": "911 (US), 999 (UK) or 112 (EU)", "retention_hours": 24, "unit": "miles"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's settings or writes to their state folder."""
    for name in list(os.environ):
        if name.startswith(("KNEEBOT_", "SLACK_", "DISCORD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # no stray .env is read


@pytest.fixture(scope="session")
def content() -> Content:
    return load_content(default_content_dir(), CONSTANTS)


@pytest.fixture
def bot() -> Iterator[Callable[..., Bot]]:
    """Start `kneebot chat --json` on demand; every process is stopped after the test."""
    started: list[Bot] = []

    def start(clock: str | None = None, **env: str) -> Bot:
        process = Bot.start({"KNEEBOT_STORE": "memory://", **env}, clock)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; tests that restart it start their own."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """One three-master Redis Cluster for the session; the failover test forms its own."""
    cluster = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    """A Slack Web API double on 127.0.0.1, started and stopped around one test."""
    from tests.slack_double import SlackApi  # only the tests that ask for it load Slack's SDK

    double = SlackApi()
    await double.start()
    yield double
    await double.stop()
