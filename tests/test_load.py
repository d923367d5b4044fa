"""Load on loopback: hundreds of whole triages through two Slack HTTP workers over one Redis,
from this process with dozens of concurrent clients, with Redis restarted in the middle.
`LOAD_RUNNERS=2000 pytest tests/test_load.py -s` runs a bigger one by hand.

Bounded: a fixed number of runners and a deadline. Zero errors, no step lost or doubled, every
runner's outcome the one the engine gives alone, and what they typed nowhere in Redis or logs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

from adapters.slack import mrkdwn
from bot.content import Content
from tests.redis_server import RedisServer
from tests.slack_double import SlackApi, SlackClient, spawn_worker
from tests.test_shared_store import PROFILES, script

RUNNERS = int(os.environ.get("LOAD_RUNNERS", "500"))
CLIENTS = 48
DEADLINE = 300.0
PHRASE = "quokka-55173"


def redis_values(port: int) -> bytes:
    """Everything Redis holds, read over its own protocol (keys and values)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"KEYS *\r\n")
        time.sleep(0.2)
        keys = conn.recv(10_000_000)
        dump = [keys]
        for line in keys.split(b"\r\n"):
            if line.startswith(b"kneebot:"):
                conn.sendall(b"HGETALL " + line + b"\r\n")
                dump.append(conn.recv(100_000))
        return b"".join(dump)


async def test_hundreds_of_triages_through_two_workers_and_a_redis_restart(
    tmp_path: Path, content: Content
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    api = SlackApi()
    api_url = await api.start()
    log = tmp_path / "workers.log"
    workers = [await spawn_worker(api_url, server.url, log) for _ in range(2)]
    plans = {f"U{n:05d}": script(content, PROFILES[n % len(PROFILES)]) for n in range(RUNNERS)}
    latencies: list[float] = []
    errors: list[str] = []
    retries = 0
    restarted = asyncio.Event()

    async def run(user: str, index: int) -> None:
        nonlocal retries
        typed, _ = plans[user]
        clients = [SlackClient(url, api, user=user) for _, url in workers]
        sent = 0
        for step, text in enumerate([PHRASE, *typed]):  # first, something it cannot place
            expected = sent + 1
            while True:
                started = time.perf_counter()
                status, _ = await clients[(index + step) % 2].dm(
                    text, event_id=f"Ev{user}{step:03d}{retries}"
                )
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{user}: HTTP {status}")
                    return
                posted = await wait_for(user, expected)
                if "can't reach my memory" in posted[-1] or "something went wrong" in posted[-1]:
                    retries += 1  # the runner tries again, as the message asks
                    expected += 1
                    await asyncio.sleep(0.2)
                    continue
                sent = expected
                break

    async def wait_for(user: str, count: int) -> list[str]:
        while True:
            posted = api.posted.get(f"D{user}", [])
            if len(posted) >= count:
                return posted
            await asyncio.sleep(0.01)

    async def restart_redis_midway() -> None:
        while sum(map(len, api.posted.values())) < RUNNERS * 5:
            await asyncio.sleep(0.1)
        server.stop()
        await asyncio.sleep(1.0)
        server.start()
        restarted.set()

    queue = list(enumerate(plans))

    async def client() -> None:
        while queue:
            index, user = queue.pop()
            await run(user, index)

    try:
        await asyncio.wait_for(
            asyncio.gather(restart_redis_midway(), *(client() for _ in range(CLIENTS))), DEADLINE
        )
        assert restarted.is_set()
        assert errors == []
        await api.settle()
        for user, (typed, outcome) in plans.items():
            posted = api.posted.get(f"D{user}", [])
            useful = [
                p for p in posted if "can't reach my memory" not in p and "something went wrong" not in p
            ]
            # One post per message typed, and the outcome's answers summary after it.
            assert len(useful) == len(typed) + 2, f"{user}: a step was lost or doubled"
            assert useful[-1] == mrkdwn(outcome)[: len(useful[-1])], user
        assert PHRASE.encode() not in redis_values(server.port)
    finally:
        for process, _ in workers:
            process.send_signal(signal.SIGTERM)
            await process.wait()
        server.stop()
        await api.stop()
    logs = log.read_bytes()
    assert b"store failed" in logs, "the restart was seen, and logged"
    assert PHRASE.encode() not in logs
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    print(f"\n{RUNNERS} triages, {len(latencies)} requests, {CLIENTS} clients, {retries} retries "
          f"during the Redis restart, p99 {p99:.1f} ms")  # fmt: skip
