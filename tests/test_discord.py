"""The Discord adapter through discord.py's real objects: interactions as the gateway delivers them,
REST calls recorded by a local double, every payload checked against Discord's limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord import KneeClient, render
from bot.content import Content, ContentSource
from bot.conversations import Conversations
from bot.model import Choice, ConversationKey, Outcome, Question, Reply
from bot.stores import Store, open_store
from tests.conftest import CONSTANTS
from tests.discord_double import DM_CHANNEL, GUILD, DiscordApi, Gateway, check_discord_limits
from tests.test_check_ins import accept_check_in
from tests.test_slack import ANSWERS, terminal_outcome


@dataclass
class Discord:
    api: DiscordApi
    gateway: Gateway
    store: Store
    content: Content

    def last(self) -> dict[str, Any]:
        return self.api.messages()[-1]

    async def restart(self) -> None:
        """A new client process on the same store: nothing carried over in memory."""
        await self.gateway.client.close()
        client = KneeClient(Conversations(ContentSource(None, CONSTANTS), self.store, timedelta(hours=24)))
        await client.login("token")
        self.gateway = Gateway(client, self.api, self.gateway.runner)


@pytest.fixture
async def bot(content: Content, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Discord]:
    api = DiscordApi()
    monkeypatch.setattr(discord.http.Route, "BASE", await api.start())
    store = open_store(f"sqlite:///{tmp_path / 'kneebot.db'}")
    client = KneeClient(Conversations(ContentSource(None, CONSTANTS), store, timedelta(hours=24)))
    await client.login("token")
    harness = Discord(api, Gateway(client, api), store, content)
    try:
        yield harness
    finally:
        await harness.gateway.client.close()
        await store.close()
        await api.stop()
    for sent in api.sent:
        check_discord_limits(sent.body)


def fact_of(message: dict[str, Any]) -> str | None:
    for row in message["components"]:
        for component in row["components"]:
            parts = component["custom_id"].split(":")
            if parts[1] in ("p", "m", "n") and parts[2]:
                return parts[2]
    return None


async def test_check_starts_a_private_triage(bot: Discord) -> None:
    await bot.gateway.command("check")
    deferred = bot.api.sent[0].body
    assert deferred["type"] == 5, "deferred within 3 seconds"
    assert deferred["data"]["flags"] & 64, "ephemeral in a server"
    intro = bot.last()
    assert "automated assistant" in intro["content"]
    assert intro["flags"] & 64
    assert [c["custom_id"] for r in intro["components"] for c in r["components"]] == ["knee:p::start"]


async def test_a_whole_triage_through_clicks_menus_and_modals(bot: Discord, content: Content) -> None:
    await bot.gateway.command("check")
    await bot.gateway.click(bot.last(), "start")
    for fact, answer in ANSWERS.items():
        message = bot.last()
        assert fact_of(message) == fact, message["content"]
        if content.facts[fact].kind == "number":
            await bot.gateway.type_number(message, answer)
        else:
            await bot.gateway.click(message, answer)
    summary = bot.last()
    assert summary["content"].startswith("**Your answers**"), "the answers follow as their own message"
    outcome = bot.api.messages()[-2]
    text = "\n\n".join(e["description"] for e in outcome["embeds"])
    assert text == terminal_outcome(content, ANSWERS)
    assert outcome["embeds"][0]["color"] == 0xF2A900
    edits = [s.body for s in bot.api.sent if s.route == "edit"]
    assert any(e["content"].endswith("✅ Gradually, building up over runs") for e in edits)
    assert any(e["components"] == [] for e in edits), "the answered question loses its buttons"
    typed = [e for e in edits if e["content"].endswith(f"✅ {ANSWERS['pain_severity']}")]
    assert typed, "a number typed in the form settles its question too"
    assert all(e["components"] == [] for e in typed), "and it loses its Type my answer button"


async def test_a_click_after_a_restart_is_served(bot: Discord) -> None:
    await bot.gateway.command("check")
    await bot.gateway.click(bot.last(), "start")
    await bot.gateway.click(bot.last(), ["none"])
    question = bot.last()
    await bot.restart()
    await bot.gateway.click(question, "gradual")
    assert fact_of(bot.last()) == "days_since_onset"


async def test_an_expired_conversation_says_start_again(bot: Discord) -> None:
    await bot.gateway.command("check")
    await bot.gateway.click(bot.last(), "start")
    question = bot.last()
    await bot.store.delete("discord:555000000000000001:600000000000000001")  # retention ran out
    await bot.gateway.click(question, ["none"])
    reply = bot.last()
    assert "expired" in reply["content"]
    assert [c["custom_id"] for r in reply["components"] for c in r["components"]] == ["knee:p::start"]


async def test_a_stale_double_click_answers_once(bot: Discord) -> None:
    await bot.gateway.command("check")
    await bot.gateway.click(bot.last(), "start")
    question = bot.last()
    await bot.gateway.click(question, ["none"])
    await bot.gateway.click(question, ["locked"])
    assert fact_of(bot.last()) == "onset", "the second click on an answered question changes nothing"
    assert "earlier question" in bot.last()["content"]


async def test_help_forget_and_lookup(bot: Discord) -> None:
    await bot.gateway.command("help")
    deferred = bot.api.sent[0].body
    assert deferred["type"] == 5, "deferred before the store is read, within 3 seconds"
    helped = bot.last()
    assert "/knee check" in helped["content"]
    assert helped["flags"] & 64, "ephemeral"
    await bot.gateway.command("lookup", topic="@everyone <@123> warmups")
    sent = bot.last()
    assert "@everyone" not in sent["content"].replace("@\u200beveryone", "")
    assert sent["flags"] & 64
    await bot.gateway.command("check")
    await bot.gateway.click(bot.last(), "start")
    await bot.gateway.command("forget")
    assert "deleted everything" in bot.last()["content"]


async def test_typed_answers_never_come_back_as_mentions(bot: Discord) -> None:
    await bot.gateway.command("check")
    await bot.gateway.click(bot.last(), "start")
    await bot.gateway.click(bot.last(), ["none"])
    await bot.gateway.click(bot.last(), "gradual")
    await bot.gateway.type_number(bot.last(), "@everyone @here <@&42> <@123>")
    assert fact_of(bot.last()) == "days_since_onset", "not a number: asked again"
    for sent in bot.api.sent:
        text = str(sent.body)
        assert "@everyone" not in text
        assert "<@123>" not in text


def test_render_keeps_within_discord_limits() -> None:
    huge = "\n\n".join("word " * 900 for _ in range(12))
    outcome = Outcome("self_care", "S1", (), huge)
    messages = render(Reply(huge, outcome=outcome))
    assert len(messages) > 1, "a long outcome continues in another message"
    for message in messages:
        payload = {"embeds": [e.to_dict() for e in message["embeds"]], "allowed_mentions": {"parse": []}}
        check_discord_limits(payload)
    choices = tuple(Choice(f"v{i}", "label " * 30) for i in range(30))
    for kind in ("single", "multi", "number"):
        [message] = render(Reply("Pick one", Question("symptoms", kind, choices)))  # type: ignore[arg-type]
        payload = {"content": message["content"], "components": message["view"].to_components(),
                   "allowed_mentions": message["allowed_mentions"].to_dict()}  # fmt: skip
        check_discord_limits(payload)
    long_question = render(Reply("x" * 4500, Question("onset", "single", choices[:2])))
    assert [len(m["content"]) for m in long_question] == [2000, 2000, 500]
    assert "view" in long_question[-1]


async def test_a_triage_typed_in_a_dm(bot: Discord) -> None:
    await bot.gateway.command("check", guild=False)
    intro = bot.last()
    assert not intro["flags"] & 64, "in a DM the messages are plain"
    await bot.gateway.click(intro, "start", guild=False)
    for text in ("none of these", "it crept up gradually", "about 3 weeks"):
        await bot.gateway.dm(text)
    assert bot.api.sent[-1].route == "channel"
    assert fact_of(bot.last()) == "age"
    assert "Got it: 21 days ago." in bot.last()["content"]


async def test_discord_uses_the_interaction_locale(bot: Discord) -> None:
    bot.gateway.locale = "es-ES"
    await bot.gateway.command("check")
    intro = bot.last()
    assert intro["content"].startswith("Hola, soy **kneebot**")
    await bot.gateway.click(intro, "start")
    assert bot.last()["content"].startswith("Primero, una comprobación rápida")
    await bot.gateway.command("help")
    assert "Esto es lo que puedo hacer" in bot.last()["content"]


async def test_stats_for_those_who_manage_the_server_and_mydata_for_anyone(bot: Discord) -> None:
    for _ in range(6):
        await bot.store.count(f"discord:{GUILD}", "2026-W48", "self_care")
    await bot.store.count("discord:999", "2026-W48", "urgent")  # another club's
    await bot.gateway.command("stats")
    assert "Only members who can manage this server" in bot.last()["content"]
    bot.gateway.permissions = str(1 << 5)  # Manage Server
    await bot.gateway.command("stats")
    table = bot.last()["content"]
    assert bot.last()["flags"] & 64, "privately"
    row = next(line for line in table.splitlines() if line.startswith("2026-W48"))
    assert row.split()[1:] == ["<5", "<5", "6", "<5", "<5"], table
    await bot.gateway.command("mydata")
    assert "I keep nothing about you right now." in bot.last()["content"]


async def test_a_check_in_discord_cannot_take_now_is_asked_at_the_next_look(
    bot: Discord, content: Content
) -> None:
    # The DM channel cannot be opened when the check-in falls due (a 503, which discord.py does
    # not retry): the check-in goes back to wait, and the next look asks it.
    service = Conversations(content, bot.store, timedelta(hours=24))
    key = ConversationKey("discord", GUILD, bot.gateway.runner)
    then = datetime.now().astimezone() - timedelta(days=3, hours=1)
    await accept_check_in(service, key, then)
    opening = ("POST", "/api/v10/users/@me/channels")
    bot.api.fail_once(*opening, 503)
    await bot.restart()  # looks at once, meets the 503
    await bot.api.until(lambda: opening not in bot.api.failing, "the failed DM")
    await bot.api.settle()
    assert not any("How is your knee" in m.get("content", "") for m in bot.api.messages())
    await bot.restart()  # the next look
    await bot.api.until(
        lambda: any("How is your knee" in m.get("content", "") for m in bot.api.messages()), "the DM"
    )
    await bot.api.settle()
    assert len([m for m in bot.api.messages() if "How is your knee" in m.get("content", "")]) == 1


async def test_a_check_in_asked_in_the_dm_keeps_its_servers_settings_and_numbers(
    bot: Discord, content: Content
) -> None:
    # The server's admins set their emergency number to 000. A runner there accepted a check-in,
    # which is asked in their DM (no server there); they are worse and report a warning sign.
    from bot.clubs import Clubs, ClubSettings
    from bot.conversations import iso_week

    now = datetime.now().astimezone()
    await Clubs(bot.store).save("discord", GUILD, ClubSettings(emergency_number="000"), who="admin", at=now)
    service = Conversations(content, bot.store, timedelta(hours=24))
    key = ConversationKey("discord", GUILD, bot.gateway.runner)
    then = now - timedelta(days=3, hours=1)
    await accept_check_in(service, key, then)
    await bot.restart()
    asked = await bot.api.until(
        lambda: next((m for m in bot.api.messages() if "How is your knee" in m.get("content", "")), None),
        "the DM",
    )
    await bot.gateway.click(asked, "worse", guild=False)
    assert "quick safety check" in bot.last()["content"]
    await bot.gateway.click(bot.last(), ["deformity"], guild=False)
    [outcome] = [json.dumps(m) for m in bot.api.messages() if "medical care today" in json.dumps(m)]
    assert "Call 000 now" in outcome, "the server's own emergency number, asked in a DM"
    week = iso_week(now)
    counts = await bot.store.counts()
    assert (f"discord:{GUILD}", week, "urgent", 1) in counts, counts
    assert not [row for row in counts if row[0] == "discord:dm"], "nothing counted for a club called dm"


async def test_a_due_check_in_arrives_as_a_dm(bot: Discord, content: Content) -> None:
    service = Conversations(content, bot.store, timedelta(hours=24))
    key = ConversationKey("discord", GUILD, bot.gateway.runner)
    then = datetime.now().astimezone() - timedelta(days=3, hours=1)
    await accept_check_in(service, key, then)
    await bot.restart()  # a process that starts after the check-in fell due
    await bot.api.until(
        lambda: any("How is your knee" in m.get("content", "") for m in bot.api.messages()), "the DM"
    )
    [asked] = [m for m in bot.api.messages() if "How is your knee" in m.get("content", "")]
    assert asked["channel_id"] == DM_CHANNEL
    assert fact_of(asked) == "check_in_progress"
    await bot.gateway.click(asked, "worse", guild=False)  # answered in the DM
    assert "quick safety check" in bot.last()["content"], "worse: the warning signs again"
