"""`/knee club` on Discord: a member with Manage Server sets the server's emergency number, the
server's urgent outcomes name it and another server's do not; anyone else is refused. Two clients
(two workers, or two shards) share one store, SQLite or Redis; each step goes to the other one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord import KneeClient
from bot.content import ContentSource
from bot.conversations import Conversations
from bot.stores import Store, open_store
from tests.conftest import CONSTANTS
from tests.discord_double import DiscordApi, check_discord_limits, interaction

A, B = "555000000000000001", "555000000000000002"
ADMIN, RUNNER = "600000000000000009", "600000000000000001"
MANAGE_SERVER = str(1 << 5)
DEFAULT = "911 (US), 999 (UK) or 112 (EU)"


class Worker:
    def __init__(self, client: KneeClient, api: DiscordApi) -> None:
        self.client, self.api = client, api

    async def send(
        self,
        kind: int,
        data: dict[str, Any],
        user: str,
        guild: str,
        permissions: str = "0",
        message: dict[str, Any] | None = None,
        locale: str = "en-GB",
    ) -> dict[str, Any]:
        """One interaction from a member of `guild` with those permissions; what the bot sent back."""
        payload = interaction(kind, data, user, True, locale)
        payload.update(guild_id=guild, authorizing_integration_owners={"0": guild})
        payload["member"]["permissions"] = permissions
        if message is not None:
            payload["message"] = message
        before = len(self.api.sent)
        self.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        await self.api.until(lambda: len(self.api.sent) > before, "an answer")
        await self.api.settle(0.03)
        return self.api.sent[before].body

    async def club(self, user: str, guild: str, permissions: str, **options: str) -> dict[str, Any]:
        inner = [{"type": 3, "name": name, "value": value} for name, value in options.items()]
        data = {
            "id": "1000",
            "name": "knee",
            "type": 1,
            "options": [{"type": 1, "name": "club", "options": inner}],
        }
        return await self.send(2, data, user, guild, permissions)


def fill(form: dict[str, Any], **typed: str) -> dict[str, Any]:
    """The form sent back with `typed` in its fields (the rest as they were filled in)."""
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"],
                                    "value": typed.get(field["custom_id"], field.get("value") or "")}]}
        for row in form["data"]["components"] for field in row["components"]
    ]  # fmt: skip
    return {"custom_id": form["data"]["custom_id"], "components": rows}


async def urgent(worker: Worker, other: Worker, user: str, guild: str) -> str:
    """A check that ends urgent, its clicks through the other worker: the outcome's text."""
    api = worker.api

    async def next_message(count: int) -> dict[str, Any]:
        await api.until(lambda: len(api.messages()) > count, "the next message")
        return api.messages()[-1]

    command = {
        "id": "1000",
        "name": "knee",
        "type": 1,
        "options": [{"type": 1, "name": "check", "options": []}],
    }
    count = len(api.messages())
    await worker.send(2, command, user, guild)
    intro = await next_message(count)
    count = len(api.messages())
    await other.send(3, {"custom_id": "knee:p::start", "component_type": 2}, user, guild, message=intro)
    question = await next_message(count)
    select = question["components"][0]["components"][0]["custom_id"]
    count = len(api.messages())
    await worker.send(3, {"custom_id": select, "component_type": 3, "values": ["deformity"]}, user, guild,
                      message=question)  # fmt: skip
    await api.until(lambda: any(m["embeds"] for m in api.messages()[count:]), "the outcome")
    outcome = next(m for m in api.messages()[count:] if m["embeds"])
    return "\n\n".join(e["description"] for e in outcome["embeds"])


@pytest.fixture(params=["sqlite", "redis"])
async def workers(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[Worker, Worker, Store]]:
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.flush()
        url = server.url
    else:
        url = f"sqlite:///{tmp_path / 'kneebot.db'}"
    api = DiscordApi()
    monkeypatch.setattr(discord.http.Route, "BASE", await api.start())
    stores = [open_store(url), open_store(url)]
    content = ContentSource(None, CONSTANTS)  # files, read once; each worker has its own store client
    clients = [KneeClient(Conversations(content, s, timedelta(hours=24))) for s in stores]
    for client in clients:
        await client.login("token")
    try:
        yield Worker(clients[0], api), Worker(clients[1], api), stores[0]
    finally:
        for client in clients:
            await client.close()
        for store in stores:
            await store.close()
        await api.stop()
    for sent in api.sent:
        check_discord_limits(sent.body)


async def test_manage_server_sets_the_emergency_number_for_that_server_only(
    workers: tuple[Worker, Worker, Store],
) -> None:
    one, two, store = workers
    refused = await one.club(RUNNER, A, "0")
    assert refused["type"] == 4
    assert refused["data"]["flags"] & 64
    assert "Only the club's admins" in refused["data"]["content"]

    form = await one.club(ADMIN, A, MANAGE_SERVER, unit="km")
    assert form["type"] == 9, "a modal"
    assert form["data"]["custom_id"] == "knee:club:km:-"
    fields = [f["custom_id"] for row in form["data"]["components"] for f in row["components"]]
    assert fields == ["club_name", "booking_name", "booking_link", "emergency_number"]

    wrong = await two.send(5, fill(form, emergency_number="triple zero"), ADMIN, A, MANAGE_SERVER)
    assert "digits only" in wrong["data"]["content"]
    assert wrong["data"]["flags"] & 64
    forged = await two.send(5, fill(form, emergency_number="999"), RUNNER, A, "0")
    assert "Only the club's admins" in forged["data"]["content"], "the submit is checked too"
    saved = await two.send(
        5, fill(form, emergency_number="000", club_name="Harriers"), ADMIN, A, MANAGE_SERVER
    )
    assert saved["data"]["content"].startswith("Saved")

    again = await one.club(ADMIN, A, MANAGE_SERVER)
    values = {
        f["custom_id"]: f.get("value") for row in again["data"]["components"] for f in row["components"]
    }
    assert values["emergency_number"] == "000"
    assert values["club_name"] == "Harriers"
    assert again["data"]["custom_id"] == "knee:club:km:-", "the saved unit is kept"

    text = await urgent(one, two, RUNNER, A)
    assert "Call 000 now" in text
    assert DEFAULT not in text
    assert f"Call {DEFAULT} now" in await urgent(two, one, RUNNER, B)

    history = await Conversations(ContentSource(None, CONSTANTS), store, timedelta(hours=1)).clubs.history(
        "discord", A
    )
    assert [(h["who"], h["fields"]) for h in history] == [
        (f"discord:{ADMIN}", ["club_name", "emergency_number", "unit"])
    ]


async def test_a_spanish_admin_is_told_what_is_wrong_in_spanish(
    workers: tuple[Worker, Worker, Store],
) -> None:
    one, _, _ = workers
    form = await one.club(ADMIN, A, MANAGE_SERVER)
    wrong = await one.send(
        5,
        fill(form, emergency_number="el 112", booking_link="http://fisio.ejemplo.com"),
        ADMIN,
        A,
        MANAGE_SERVER,
        locale="es-ES",
    )
    said = wrong["data"]["content"]
    assert "solo cifras" in said
    assert "enlace completo con https://" in said
    assert "digits only" not in said
