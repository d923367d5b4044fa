"""kneebot over a real Redis Cluster: whole triages, a killed bot, forget on every master, a failover.

The store suite (test_stores.py) runs on the session's three-master cluster too; these tests
drive the real entry point, `kneebot chat --json`, with KNEEBOT_STORE=redis+cluster://...
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.content import Content
from bot.conversations import Conversations
from bot.errors import ConfigError, StoreError
from bot.model import ConversationKey, Event
from bot.stores import open_store
from tests.conftest import NOW
from tests.redis_server import RedisClusterServers
from tests.test_transcripts import CASES, LEVELS
from tests.transcript import Bot, kneebot_command, triage

# One runner per level, the longest path among them (a race soon: every question is asked).
RUNNERS = {rule: answers for rule, name, answers in CASES if name in ("55 plus", "race soon", "calm")}


@pytest.fixture
def cluster(redis_cluster: RedisClusterServers) -> RedisClusterServers:
    redis_cluster.flush()
    return redis_cluster


@pytest.mark.parametrize("rule", sorted(RUNNERS))
def test_runners_reach_their_levels_on_a_cluster(
    bot: Callable[..., Bot], cluster: RedisClusterServers, rule: str
) -> None:
    message, asked = triage(bot(KNEEBOT_STORE=cluster.url), RUNNERS[rule])
    outcome = message["outcome"]
    assert (outcome["level"], outcome["rule"]) == (LEVELS[rule[0]], rule)
    assert asked[0] == "red_flags"
    assert "not a diagnosis" in message["text"]


def test_a_killed_bot_resumes_from_the_cluster(bot: Callable[..., Bot], cluster: RedisClusterServers) -> None:
    first = bot(KNEEBOT_STORE=cluster.url)
    first.read_turn()
    first.send({"value": "start"})
    first.send({"value": ["none"]})
    assert first.send({"value": "gradual"})[-1]["fact"] == "days_since_onset"
    first.process.kill()  # SIGKILL between two answers: no chance to clean up
    first.process.wait()
    second = bot(KNEEBOT_STORE=cluster.url)
    opening = second.read_turn()[-1]
    assert [c["value"] for c in opening["choices"]] == ["resume", "start"]
    assert second.send({"value": "resume"})[-1]["fact"] == "days_since_onset"
    assert second.send({"text": "3 weeks"})[-1]["fact"] == "age"


async def test_forget_finds_a_runner_on_every_master(cluster: RedisClusterServers, content: Content) -> None:
    store = open_store(cluster.url)
    service = Conversations(content, store, retention=timedelta(hours=1))
    workspaces = [f"T{n}" for n in range(12)]
    try:
        for workspace in workspaces:
            await service.handle(
                ConversationKey("slack", workspace, "U1"), Event("answer", NOW, value="start")
            )
        await service.handle(ConversationKey("slack", "T0", "U2"), Event("answer", NOW, value="start"))
        holders = {port for port in cluster.masters() if cluster.keys(port, "kneebot:conv:*:U1")}
        assert holders == set(cluster.masters()), "the runner's conversations are spread over every master"
        # The operator's data-deletion command, a fresh process whose client knows no node yet.
        forgot = await asyncio.create_subprocess_exec(
            *kneebot_command(), "forget", "--user", "U1", env={**os.environ, "KNEEBOT_STORE": cluster.url}
        )
        assert await forgot.wait() == 0
        assert not any(cluster.keys(port, "kneebot:conv:*:U1") for port in cluster.masters())
        assert await store.get("slack:T0:U2") is not None, "only that runner is forgotten"
    finally:
        await store.close()


async def test_cluster_urls_carry_the_password_and_name_no_database(cluster: RedisClusterServers) -> None:
    with pytest.raises(ConfigError, match="KNEEBOT_STORE"):
        open_store(f"redis+cluster://127.0.0.1:{cluster.ports[0]}/2")  # a cluster has one database
    wrong = open_store(cluster.url.replace(cluster.PASSWORD, "wrong"))
    # TLS to a plain-text node fails instead of quietly talking in clear.
    tls = open_store(cluster.url.replace("redis+cluster://", "rediss+cluster://"))
    try:
        for store in (wrong, tls):
            with pytest.raises(StoreError):
                await store.get("k")
    finally:
        await wrong.close()
        await tls.close()
    right = open_store(cluster.url)
    try:
        assert await right.compare_and_set("k", None, "one", ttl=60)
    finally:
        await right.close()


@pytest.fixture
def six_nodes(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """Three masters with a replica each, for this test alone: it kills a master."""
    servers = RedisClusterServers(tmp_path, masters=3, replicas=1)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def test_a_master_dies_mid_triage_and_its_replica_carries_on(
    bot: Callable[..., Bot], six_nodes: RedisClusterServers
) -> None:
    answers: dict[str, Any] = RUNNERS["P9"]
    runner = bot(KNEEBOT_STORE=six_nodes.url)
    runner.read_turn()
    runner.send({"value": "start"})
    runner.send({"value": answers["red_flags"]})
    assert runner.send({"value": answers["onset"]})[-1]["fact"] == "days_since_onset"

    master = six_nodes.holder("kneebot:conv:*")
    six_nodes.wait_replicated(master)
    six_nodes.kill(master)
    down = runner.send({"value": answers["days_since_onset"]})[-1]
    assert "can't reach my memory" in down["text"]
    assert runner.process.poll() is None, "the bot keeps running"

    six_nodes.promote(six_nodes.replica_of(master))
    message = runner.send({"value": answers["days_since_onset"]})[-1]
    assert message["fact"] == "age", "nothing answered before the failover was lost"
    while message["outcome"] is None:
        message = runner.send({"value": answers[message["fact"]]})[-1]
    assert (message["outcome"]["level"], message["outcome"]["rule"]) == ("see_professional", "P9")


async def test_a_cluster_that_is_down_is_a_store_that_is_down(tmp_path: Path, content: Content) -> None:
    """CLUSTERDOWN from the masters still up (a master lost, no replica) reaches the runner as
    *I can't reach my memory*, for every runner; when the master is back, everyone carries on."""
    servers = RedisClusterServers(tmp_path, masters=3, node_timeout_ms=300)
    servers.start()
    store = open_store(servers.url)
    service = Conversations(content, store, retention=timedelta(hours=1))
    runners = [ConversationKey("slack", "T1", f"U{n}") for n in range(2)]
    try:
        for runner in runners:
            await service.handle(runner, Event("answer", NOW, value="start"))
        holders = [servers.holder(f"kneebot:conv:{runner}") for runner in runners]
        assert holders[0] != holders[1], "the runners' conversations are on different masters"
        lost = holders[0]
        servers.kill(lost)
        servers.wait_down()
        for runner in runners:  # on the dead master or not
            [reply] = await service.handle(runner, Event("answer", NOW, value=["none"]))
            assert "can't reach my memory" in reply.text
        servers.restart(lost)
        for runner in runners:
            [*_, reply] = await service.handle(runner, Event("answer", NOW, value=["none"]))
            assert reply.question is not None
            assert reply.question.fact == "onset", "what was saved before is intact"
    finally:
        await store.close()
        servers.stop()


async def test_a_tls_cluster(tmp_path: Path, content: Content) -> None:
    """rediss+cluster://: clients, the cluster bus and replication all encrypted, the CA in the URL."""
    servers = RedisClusterServers(tmp_path, tls=True)
    servers.start()
    store = open_store(servers.url)
    service = Conversations(content, store, retention=timedelta(hours=1))
    try:
        for user in ("U0", "U1", "U2"):  # one on each master
            await service.handle(ConversationKey("slack", "T1", user), Event("answer", NOW, value="start"))
            [*_, reply] = await service.handle(
                ConversationKey("slack", "T1", user), Event("answer", NOW, value=["none"])
            )
            assert reply.question is not None
            assert reply.question.fact == "onset"
        assert await store.forget_user("U1") == 1
    finally:
        await store.close()
        servers.stop()
