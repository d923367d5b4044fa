"""`/healthz` and `/readyz` for orchestrators and load balancers: alive while the process runs,
ready only while the store answers; and SIGTERM ends every long-running mode with status 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.discord_gateway import LiveDiscord, start_bot, stop_bot
from tests.redis_server import RedisServer, free_port
from tests.slack_double import SlackApi, spawn_worker, wait_for_port


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def ready_again(http: aiohttp.ClientSession, url: str) -> int:
    for _ in range(100):
        status, _ = await get(http, url)
        if status == 200:
            return status
        await asyncio.sleep(0.1)
    return status


async def test_http_mode_is_ready_only_while_the_store_answers(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    api = SlackApi()
    api_url = await api.start()
    process, events = await spawn_worker(api_url, redis.url, tmp_path / "worker.log")
    base = events.removesuffix("/slack/events")
    try:
        async with aiohttp.ClientSession() as http:
            assert await get(http, f"{base}/healthz") == (200, {"status": "alive"})
            assert await get(http, f"{base}/readyz") == (200, {"status": "ready", "store": "ok"})
            redis.stop()
            status, body = await get(http, f"{base}/readyz")
            assert (status, body["store"]) == (503, "unreachable")
            assert (await get(http, f"{base}/healthz"))[0] == 200, "alive, only not ready"
            redis.start()
            assert await ready_again(http, f"{base}/readyz") == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
        redis.stop()
        await api.stop()
    log = (tmp_path / "worker.log").read_text()
    assert "Traceback" not in log


async def test_discord_serves_health_on_its_own_port(tmp_path: Path) -> None:
    discord = LiveDiscord()
    api_url = await discord.start()
    port = free_port()
    db = f"sqlite:///{tmp_path / 'kneebot.db'}"
    process = await start_bot(api_url, db, tmp_path / "bot.log", KNEEBOT_HEALTH_PORT=str(port))
    try:
        await wait_for_port(port)
        async with aiohttp.ClientSession() as http:
            assert await get(http, f"http://127.0.0.1:{port}/healthz") == (200, {"status": "alive"})
            assert (await get(http, f"http://127.0.0.1:{port}/readyz"))[0] == 200
        assert await stop_bot(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
        await discord.stop()


async def test_a_health_port_in_use_is_one_line(tmp_path: Path) -> None:
    discord = LiveDiscord()
    api_url = await discord.start()
    taken = await asyncio.start_server(lambda r, w: None, "0.0.0.0", 0)
    port = taken.sockets[0].getsockname()[1]
    log = tmp_path / "bot.log"
    try:
        process = await start_bot(api_url, "memory://", log, KNEEBOT_HEALTH_PORT=str(port))
        assert await asyncio.wait_for(process.wait(), 20) == 1
    finally:
        taken.close()
        await discord.stop()
    errors = [line for line in log.read_text().splitlines() if line.startswith("kneebot:")]
    assert errors[-1].startswith("kneebot: cannot listen on 0.0.0.0:")
    assert "health" in errors[-1]
    assert "Traceback" not in log.read_text()
