"""After the outcome, through the real entry points: the check-in a runner accepts, asked days
later (the clock moved by libfaketime) in the terminal and as one Slack DM however many workers
run; `mydata`; the club's anonymous numbers; and the store's claims on every backend."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.content import Content
from bot.conversations import Conversations
from bot.model import ConversationKey, Event, Reply
from bot.stores import Store
from bot.stores.memory import MemoryStore
from bot.stores.sqlite import SQLiteStore
from tests.conftest import NOW
from tests.slack_double import TEAM, SlackApi, SlackClient, spawn_worker
from tests.test_stores import Backend, backend  # noqa: F401  (the backends' fixture)
from tests.test_transcripts import CALM
from tests.transcript import Bot, Message, kneebot_command

PROGRESS = "How is your knee"


def finish(runner: Bot, answers: dict[str, Any]) -> list[Message]:
    """Start a check from the intro (or after an outcome) and answer until the outcome's turn."""
    turn = runner.send({"value": "start"})
    while turn[-1]["outcome"] is None:
        fact = turn[-1]["fact"]
        assert fact in answers, turn[-1]
        turn = runner.send({"value": answers[fact]})
    return turn


def test_a_check_in_accepted_is_asked_first_four_days_later(bot: Callable[..., Bot], tmp_path: Path) -> None:
    env = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}", "KNEEBOT_RETENTION_HOURS": "48"}
    runner = bot(**env)
    runner.read_turn()
    *_, summary, outcome = finish(runner, CALM)
    assert outcome["outcome"]["level"] == "self_care"
    assert summary["fact"] == "check_in", "the outcome is followed by the check-in offer"
    assert "in 3 days" in summary["text"], summary["text"]
    assert "48 hours" in summary["text"], "accepting keeps the answers until then plus the retention"
    [helpful] = runner.send({"value": "yes"})
    assert "I'll ask how your knee is on" in helpful["text"]
    assert helpful["fact"] == "helpful"
    assert runner.close() == 0

    later = bot(clock="+4d", **env)
    [asked] = later.read_turn()
    assert asked["fact"] == "check_in_progress", asked
    assert PROGRESS in asked["text"]
    assert [c["value"] for c in asked["choices"]] == ["better", "same", "worse"]
    [screen] = later.send({"value": "worse"})
    assert screen["fact"] == "red_flags", "worse: the warning signs again"
    *_, summary, again = later.send({"value": ["none"]})
    assert again["outcome"]["level"] == "see_professional", again["outcome"]
    assert again["outcome"]["rule"] == "C1"
    assert summary["fact"] == "check_in"


async def seed_due_check_in(path: Path, content: Content, team: str) -> None:
    """A SQLite store where Slack runner U0RUNNER of `team` accepted a check-in 3 days and an
    hour ago: it is due, and no worker has run since."""
    seeded = SQLiteStore(path)
    service = Conversations(content, seeded, timedelta(hours=24))
    then = datetime.now().astimezone() - timedelta(days=3, hours=1)
    await accept_check_in(service, ConversationKey("slack", team, "U0RUNNER"), then)
    await seeded.close()


async def accept_check_in(service: Conversations, key: ConversationKey, at: datetime) -> None:
    """A calm triage at `at` whose runner says yes to the check-in (due 3 days after `at`)."""
    await _triage(service, key, CALM, at)
    await service.handle(key, Event("answer", at, value="yes", fact="check_in"))


async def _triage(
    service: Conversations, key: ConversationKey, answers: dict[str, Any], at: datetime
) -> list[Reply]:
    replies = await service.handle(key, Event("answer", at, value="start"))
    while replies[-1].outcome is None and replies[0].outcome is None:
        question = replies[-1].question
        assert question is not None, replies[-1].text
        assert question.fact in answers, replies[-1].text
        answer = answers[question.fact]
        replies = await service.handle(
            key, Event("answer", at, value=tuple(answer) if isinstance(answer, list) else answer)
        )
    return replies


def _fact(reply: Reply) -> str | None:
    return reply.question.fact if reply.question else None


async def _checked_in(service: Conversations, key: ConversationKey, at: datetime) -> Reply:
    [(found, [asked])] = await service.due_check_ins("terminal", at)
    assert found == key
    assert _fact(asked) == "check_in_progress"
    return asked


async def test_what_each_check_in_answer_leads_to(content: Content) -> None:
    service = Conversations(content, MemoryStore(), timedelta(hours=24))
    key = ConversationKey("terminal", "local", "runner")
    racing = {**CALM, "days_to_race": 12, "race_distance": "half", "weekly_miles": 30}
    await _triage(service, key, racing, NOW)
    await service.handle(key, Event("answer", NOW, value="yes", fact="check_in"))
    assert await service.due_check_ins("terminal", NOW + timedelta(days=2)) == [], "not due yet"

    # `same` after self-care: a second check-in; `same` again: see a professional.
    await _checked_in(service, key, NOW + timedelta(days=3))
    [offer] = await service.handle(key, Event("text", NOW + timedelta(days=3), text="about the same"))
    assert _fact(offer) == "check_in"
    await service.handle(key, Event("text", NOW + timedelta(days=3), text="yes"))
    await _checked_in(service, key, NOW + timedelta(days=6, hours=1))
    replies = await service.handle(key, Event("answer", NOW + timedelta(days=6, hours=1), value="same"))
    assert replies[0].outcome is not None
    assert (replies[0].outcome.level, replies[0].outcome.rule) == ("see_professional", "C2")

    # `better`: how to build back up, and the taper for the race now 9 days away.
    await _triage(service, key, racing, NOW)
    await service.handle(key, Event("text", NOW, text="yes please"))
    at = NOW + timedelta(days=3, hours=2)
    await _checked_in(service, key, at)
    [better] = await service.handle(key, Event("text", at, text="much better thanks"))
    assert "Build back up gradually" in better.text
    assert "**Your race is in 9 days.**" in better.text
    assert "from 30 miles a week" in better.text, "the taper, sized to their week"

    # A warning sign said in words is taken as worse: the screen again, here urgent care.
    await _triage(service, key, CALM, NOW)
    await service.handle(key, Event("answer", NOW, value="yes"))
    await _checked_in(service, key, at)
    [screen] = await service.handle(key, Event("text", at, text="about the same, but it locked up yesterday"))
    assert _fact(screen) == "red_flags"
    urgent = await service.handle(key, Event("answer", at, value=("locked",)))
    assert urgent[0].outcome is not None
    assert urgent[0].outcome.level == "urgent"
    assert _fact(urgent[-1]) == "helpful", "no check-in offer"

    # `no` keeps nothing more; `forget` cancels an accepted one.
    await _triage(service, key, CALM, NOW)
    [declined] = await service.handle(key, Event("answer", NOW, value="no"))
    assert "keep nothing more" in declined.text
    assert await service.due_check_ins("terminal", at) == []
    await _triage(service, key, CALM, NOW)
    await service.handle(key, Event("answer", NOW, value="yes"))
    await service.handle(key, Event("forget", NOW))
    assert await service.due_check_ins("terminal", at) == []


def test_data_lists_what_is_kept_and_when_it_goes(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    runner.send({"value": ["none"]})
    runner.send({"value": "gradual"})
    runner.send({"value": 10})
    data, question = runner.send({"command": "data"})
    text = data["text"]
    for line in ("- Warning signs: None of these", "- How it started: Gradually", "- Started: 10 days ago"):
        assert line in text, text
    assert text.count("\n- ") == 3, "those three answers and nothing else"
    deleted = datetime.now().astimezone().timestamp() + 24 * 3600
    day = datetime.fromtimestamp(deleted).astimezone().strftime("%a %-d %b")
    assert f"Everything is deleted on **{day}, " in text, text
    assert "`forget`" in text
    assert question["fact"] == "age", "then the question waiting is asked again"
    [typed, _] = runner.send({"text": "mydata"})
    assert typed["text"] == text


def test_stats_count_outcomes_by_week_and_level_naming_no_one(
    bot: Callable[..., Bot], tmp_path: Path
) -> None:
    env = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"}
    runner = bot(**env)
    runner.read_turn()
    for number in range(6):  # five runners sent to urgent care, one to self-care
        finish(runner, CALM if number == 5 else {**CALM, "red_flags": ["locked"]})
        runner.send({"value": "yes"})  # helpful (after urgent care), or the check-in offered
    assert runner.close() == 0
    shown = subprocess.run([*kneebot_command(), "stats"], capture_output=True, text=True, env=_env(env))
    assert shown.returncode == 0, shown.stderr
    week = datetime.now().astimezone().isocalendar()
    lines = shown.stdout.splitlines()
    assert "terminal:local" in lines
    assert lines[lines.index("terminal:local") + 1].split() == [
        "Week", "Urgent", "See", "a", "pro", "Self-care", "Helpful", "Not", "helpful"
    ]  # fmt: skip
    row = next(line for line in lines if line.startswith(f"{week.year}-W{week.week:02d}"))
    assert row.split()[1:] == ["5", "<5", "<5", "5", "<5"], shown.stdout
    assert "runner" not in shown.stdout
    broken = subprocess.run(
        [*kneebot_command(), "stats"],
        capture_output=True,
        text=True,
        env=_env({"KNEEBOT_STORE": "redis://127.0.0.1:1/0"}),
    )
    assert broken.returncode != 0
    assert len(broken.stderr.strip().splitlines()) == 1, broken.stderr
    assert "Traceback" not in broken.stderr


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


async def test_two_slack_workers_deliver_a_due_check_in_once(tmp_path: Path, content: Content) -> None:
    # A Slack runner accepted a check-in 3 days and an hour ago; it fell due while no worker ran.
    path = tmp_path / "kneebot.db"
    await seed_due_check_in(path, content, TEAM)

    api = SlackApi()
    api_url = await api.start()
    log = tmp_path / "kneebot.log"
    workers: list[asyncio.subprocess.Process] = []
    try:
        started = [spawn_worker(api_url, f"sqlite:///{path}", log) for _ in range(2)]
        workers += [worker for worker, _ in await asyncio.gather(*started)]  # two, on the one store
        [asked] = await api.wait_for("chat.postMessage", 1, timeout=10)
        await asyncio.sleep(1.0)  # time for a second delivery, were there one
        await api.settle()
        assert [m["text"][:40] for m in api.made("chat.postMessage")] == [asked["text"][:40]], (
            "exactly one DM"
        )
        assert PROGRESS in asked["text"]
        assert asked["channel"] == "DU0RUNNER", "in the runner's DM"
        workers[0].send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(workers[0].wait(), 20) == 0
        again, url = await spawn_worker(api_url, f"sqlite:///{path}", log)  # a restart, after delivery
        workers.append(again)
        await SlackClient(url, api).click(asked, "worse")
        screen = (await api.wait_for("chat.postMessage", 2, timeout=10))[-1]
        assert "quick safety check" in screen["text"], "worse: the warning signs again"
        await api.settle()
        assert len([m for m in api.made("chat.postMessage") if PROGRESS in m["text"]]) == 1
    finally:
        await _stop(workers, api)
    assert "Traceback" not in log.read_text()


async def test_a_check_in_slack_cannot_take_now_is_asked_at_the_next_look(
    tmp_path: Path, content: Content
) -> None:
    # A runner accepted a check-in 3 days and an hour ago; when it falls due, Slack answers the
    # DM's conversations.open with a proxy's 502 page. The runner has no reason to write first,
    # so nothing would ever send it: it must be put back, and the next look must ask it.
    path = tmp_path / "kneebot.db"
    await seed_due_check_in(path, content, TEAM)

    api = SlackApi()
    api_url = await api.start()
    api.break_once("conversations.open")
    log = tmp_path / "kneebot.log"
    workers: list[asyncio.subprocess.Process] = []
    try:
        first, _ = await spawn_worker(api_url, f"sqlite:///{path}", log)
        workers.append(first)
        for _ in range(200):
            if any(call.method == "conversations.open" for call in api.refused):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the check-in was never looked for")
        first.send_signal(signal.SIGTERM)  # the next look is 30 s away: a restart looks at once
        assert await asyncio.wait_for(first.wait(), 20) == 0
        assert api.made("chat.postMessage") == []
        second, _ = await spawn_worker(api_url, f"sqlite:///{path}", log)
        workers.append(second)
        [asked] = await api.wait_for("chat.postMessage", 1, timeout=10)
        assert PROGRESS in asked["text"]
        assert asked["channel"] == "DU0RUNNER"
        await asyncio.sleep(0.5)
        await api.settle()
        assert len(api.made("chat.postMessage")) == 1, "asked once"
    finally:
        await _stop(workers, api)
    written = log.read_text()
    assert "it is asked again at the next look" in written
    assert "Traceback" not in written


async def test_the_hosted_app_sends_a_due_check_in_with_that_workspaces_own_token(
    tmp_path: Path, content: Content
) -> None:
    from tests.slack_double import installed_token
    from tests.test_slack_clubs import install, start_worker

    path = tmp_path / "kneebot.db"
    api = SlackApi()
    api_url = await api.start()
    log = tmp_path / "kneebot.log"
    workers: list[asyncio.subprocess.Process] = []
    try:
        first, base = await start_worker(api_url, f"sqlite:///{path}", log)
        workers.append(first)
        assert (await install(base, "T0ALPHA")).startswith("200")
        # A runner there accepted a check-in 3 days and an hour ago; it falls due now.
        await seed_due_check_in(path, content, "T0ALPHA")
        second, _ = await start_worker(api_url, f"sqlite:///{path}", log)  # looks at start
        workers.append(second)
        [(asked, token)] = [
            (c.args, c.token) for c in await _calls(api, "chat.postMessage") if PROGRESS in str(c.args)
        ]
        assert token == installed_token("T0ALPHA"), "the workspace's own token, not none"
        assert asked["channel"] == "DU0RUNNER"
    finally:
        await _stop(workers, api)
    assert "Traceback" not in log.read_text()


async def _stop(workers: list[asyncio.subprocess.Process], api: SlackApi) -> None:
    """Stop whatever workers a test left running, then the Slack double."""
    for worker in workers:
        if worker.returncode is None:
            worker.terminate()
            await worker.wait()
    await api.stop()


async def _calls(api: SlackApi, method: str, timeout: float = 10.0) -> list[Any]:
    for _ in range(int(timeout / 0.05)):
        found = [c for c in api.calls if c.method == method]
        if found:
            await api.settle()
            return [c for c in api.calls if c.method == method]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {method} call")


async def test_claims_hand_each_due_check_in_to_one_taker(backend: Backend) -> None:  # noqa: F811
    taker: Store = backend.store
    await taker.schedule("slack:T1:U1", 100.0)
    await taker.schedule("slack:T1:U2", 200.0)
    await taker.schedule("discord:G1:U1", 100.0)
    assert await taker.claim_due("slack", 50.0, lease=60) == [], "nothing due yet"
    first, second = await asyncio.gather(
        taker.claim_due("slack", 150.0, lease=60), taker.claim_due("slack", 150.0, lease=60)
    )
    assert sorted(first + second) == ["slack:T1:U1"], "one taker for each, one platform only"
    assert await taker.claim_due("slack", 205.0, lease=60) == ["slack:T1:U2"], "the claimed one is leased"
    assert sorted(await taker.claim_due("slack", 300.0, lease=60)) == ["slack:T1:U1", "slack:T1:U2"], (
        "a taker that died: the lease runs out and the next takes it"
    )
    await taker.schedule("slack:T1:U2", None)
    await taker.count("slack:T1", "2026-W48", "self_care")
    await taker.count("slack:T1", "2026-W48", "self_care")
    assert await taker.forget_user("U1") == 0
    assert await taker.claim_due("slack", 10_000.0, lease=60) == []
    assert await taker.claim_due("discord", 10_000.0, lease=60) == [], "forget cancels every check-in"
    assert await taker.counts() == [("slack:T1", "2026-W48", "self_care", 2)], "counters name no one"
