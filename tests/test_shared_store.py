"""Several bot processes over one real redis-server: nothing lost, nothing doubled, nothing leaked.

Two `kneebot slack --http` workers share a Redis store, as behind a load balancer. Many runners'
events are interleaved across them; each conversation must reach the outcome it reaches alone.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from adapters.slack import mrkdwn
from bot import engine
from bot.content import Content
from bot.model import Event
from tests.conftest import NOW
from tests.redis_server import RedisServer
from tests.slack_double import SlackApi, SlackClient, spawn_worker

PROFILES: list[dict[str, Any]] = [
    {"red_flags": "none", "onset": "gradually", "days_since_onset": "10 days", "age": "34",
     "symptoms": "none",
     "pain_severity": "3", "pain_location": "front", "training_changes": "more miles", "surface": "road",
     "shoe_miles": "200", "days_to_race": "no race"},
    {"red_flags": "I can't walk on it"},
    {"red_flags": "none", "onset": "I fell", "days_since_onset": "3 days", "age": "60"},
    {"red_flags": "none", "onset": "gradually", "days_since_onset": "4 weeks", "age": "17 to 54",
     "symptoms": "it gives way", "pain_severity": "like a 6", "improving": "no", "pain_location": "outside",
     "training_changes": "hills", "surface": "trail", "shoe_miles": "not sure", "days_to_race": "in 12 days",
     "race_distance": "a half", "weekly_miles": "50k a week"},
]  # fmt: skip


def script(content: Content, answers: dict[str, Any]) -> tuple[list[str], str]:
    """What this runner types, in order, and the outcome the engine gives them alone."""
    result = engine.step(content, None, Event("text", NOW, text="start"))
    typed = ["start"]
    while result.state is not None and not result.state.finished:
        text = answers[result.state.asking or ""]
        typed.append(text)
        result = engine.step(content, result.state, Event("text", NOW, text=text))
    return typed, result.replies[-1].text


def posts_to(api: SlackApi, user: str) -> list[str]:
    return [p["text"] for p in api.made("chat.postMessage") if p["channel"] == f"D{user}"]


async def wait_posts(api: SlackApi, user: str, count: int, timeout: float = 15) -> list[str]:
    for _ in range(int(timeout / 0.02)):
        if len(posts_to(api, user)) >= count:
            return posts_to(api, user)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{user}: expected {count} messages, got {posts_to(api, user)}")


async def test_two_workers_one_redis_many_runners(
    api: SlackApi, redis_server: RedisServer, content: Content
) -> None:
    redis_server.flush()
    api_url = str(api.server.make_url("/api/"))  # type: ignore[union-attr]
    workers = [await spawn_worker(api_url, redis_server.url) for _ in range(2)]
    try:
        runners = [f"U{n:04d}" for n in range(24)]
        plans = {user: script(content, PROFILES[n % len(PROFILES)]) for n, user in enumerate(runners)}
        clients = {user: [SlackClient(url, api, user=user) for _, url in workers] for user in runners}
        longest = max(len(typed) for typed, _ in plans.values())
        for step in range(longest):
            sends = []
            for n, user in enumerate(runners):
                typed, _ = plans[user]
                if step < len(typed):
                    event_id = f"Ev{user}{step:03d}"
                    sends.append(clients[user][(n + step) % 2].dm(typed[step], event_id=event_id))
                    if n % 3 == 0:  # the same delivery reaching both workers at once
                        sends.append(
                            clients[user][(n + step + 1) % 2].dm(typed[step], event_id=event_id, retry=1)
                        )
            statuses = await asyncio.gather(*sends)
            assert all(status == 200 for status, _ in statuses)
            for user in runners:
                if step < len(plans[user][0]):
                    await wait_posts(api, user, step + 1)
        await api.settle()
        for user in runners:
            typed, outcome = plans[user]
            posted = posts_to(api, user)
            # One post per message typed, and the outcome's answers summary after it.
            assert len(posted) == len(typed) + 1, f"{user}: a step was lost or doubled"
            assert posted[-1] == mrkdwn(outcome)[: len(posted[-1])]
            assert "Your answers" in posted[-1]
    finally:
        for process, _ in workers:
            process.send_signal(signal.SIGTERM)
            await process.wait()


async def test_a_redis_restart_mid_conversation(api: SlackApi, tmp_path: Path, content: Content) -> None:
    server = RedisServer(tmp_path)
    server.start()
    api_url = str(api.server.make_url("/api/"))  # type: ignore[union-attr]
    process, url = await spawn_worker(api_url, server.url)
    runner = SlackClient(url, api, user="U0RESTART")
    try:
        for count, text in enumerate(["start", "none", "gradually"], start=1):
            await runner.dm(text)
            await wait_posts(api, "U0RESTART", count)
        server.stop()
        status, _ = await runner.dm("3 weeks")
        assert status == 200
        [*_, down] = await wait_posts(api, "U0RESTART", 4)
        assert "can't reach my memory" in down
        assert process.returncode is None, "the worker keeps running"
        server.start()
        await runner.dm("3 weeks")
        [*_, resumed] = await wait_posts(api, "U0RESTART", 5)
        assert "Got it: 21 days ago." in resumed, "what was saved before the restart is intact"
        assert "How old are you?" in resumed
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
        server.stop()
