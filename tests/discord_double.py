"""A local Discord: a recording REST API, and interactions fed in the way the gateway delivers them.

discord.py's own REST code talks to the double (its base URL is pointed here), so what is recorded
is exactly the JSON the bot would send to Discord. Interactions go in through
`ConnectionState.parse_interaction_create`, the handler for the gateway's INTERACTION_CREATE.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import discord
from aiohttp import web
from aiohttp.test_utils import TestServer

APP_ID = "800000000000000001"
BOT = {"id": "800000000000000002", "username": "kneebot", "discriminator": "0", "avatar": None,
       "bot": True, "global_name": "kneebot", "public_flags": 0, "flags": 0}  # fmt: skip
GUILD = "555000000000000001"
CHANNEL = "777000000000000001"
DM_CHANNEL = "777000000000000009"
STAMP = "2026-11-24T12:00:00+00:00"


@dataclass
class Sent:
    route: str
    body: dict[str, Any]
    message: dict[str, Any] | None = None
    token: str = ""
    """The interaction token a callback, follow-up or edit belongs to."""


@dataclass
class Call:
    """One REST request as it arrived: method, path and JSON body (None when it had none)."""

    method: str
    path: str
    body: Any


@dataclass
class DiscordApi:
    sent: list[Sent] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    server: TestServer | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900000000000000001))
    changed: asyncio.Condition | None = None
    failing: dict[tuple[str, str], int] = field(default_factory=dict)
    """Requests (method, path) to answer once with an error status instead of serving them."""

    async def start(self) -> str:
        self.changed = asyncio.Condition()
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("/api/v10"))

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/users/{user}", self._user)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_put("/api/v10/applications/{app}/commands", self._commands)
        app.router.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self._commands)
        app.router.add_post("/api/v10/interactions/{id}/{token}/callback", self._callback)
        app.router.add_post("/api/v10/webhooks/{app}/{token}", self._followup)
        app.router.add_patch("/api/v10/webhooks/{app}/{token}/messages/{message}", self._edit)
        app.router.add_post("/api/v10/users/@me/channels", self._dm_channel)
        app.router.add_post("/api/v10/channels/{channel}/messages", self._channel_message)

    def fail_once(self, method: str, path: str, status: int) -> None:
        """The next `method path` (`POST`, `/api/v10/users/@me/channels`) is answered with `status`."""
        self.failing[method, path] = status

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            raw = await request.read()
            self.calls.append(Call(request.method, request.path, json.loads(raw) if raw else None))
            status = self.failing.pop((request.method, request.path), None)
            if status is not None:
                await self.note()
                return web.json_response({"message": "Service Unavailable", "code": 0}, status=status)
        response: web.StreamResponse = await handler(request)
        await self.note()
        return response

    async def note(self) -> None:
        """Wake whoever waits in `until`."""
        if self.changed is not None:
            async with self.changed:
                self.changed.notify_all()

    async def until(self, done: Any, what: str, timeout: float = 20.0) -> Any:
        """Wait until `done()` returns something truthy (and return it); fail naming `what`."""
        assert self.changed is not None
        try:
            async with asyncio.timeout(timeout), self.changed:
                return await self.changed.wait_for(done)
        except TimeoutError:
            raise AssertionError(f"waited {timeout:.0f} s for {what}") from None

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _me(self, _: web.Request) -> web.Response:
        return _json(BOT)

    async def _user(self, request: web.Request) -> web.Response:
        return _json(user(request.match_info["user"]))

    async def _application(self, _: web.Request) -> web.Response:
        return _json(
            {"id": APP_ID, "name": "kneebot", "description": "", "icon": None, "bot_public": True,
             "bot_require_code_grant": False, "owner": BOT, "verify_key": "0" * 64, "flags": 0,
             "team": None, "summary": ""}
        )  # fmt: skip

    def _message(self, body: dict[str, Any], channel: str = CHANNEL) -> dict[str, Any]:
        return {
            "id": str(next(self.ids)), "channel_id": channel, "type": 0, "content": body.get("content") or "",
            "author": BOT, "attachments": [], "embeds": body.get("embeds") or [], "mentions": [],
            "mention_roles": [], "pinned": False, "mention_everyone": False, "tts": False,
            "timestamp": STAMP, "edited_timestamp": None, "flags": body.get("flags") or 0,
            "components": body.get("components") or [], "application_id": APP_ID, "webhook_id": APP_ID,
        }  # fmt: skip

    async def _commands(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        commands = [
            {**command, "id": str(next(self.ids)), "application_id": APP_ID, "version": "1",
             **({"guild_id": guild} if guild else {})}
            for command in await request.json()
        ]  # fmt: skip
        return _json(commands)

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self._message(body.get("data") or {}) if body.get("type") == 4 else None
        self.sent.append(Sent("callback", body, message, request.match_info["token"]))
        return _json({"interaction": {"id": request.match_info["id"], "type": 2}})

    async def _followup(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self._message(body)
        self.sent.append(Sent("followup", body, message, request.match_info["token"]))
        return _json(message)

    async def _edit(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self._message(body)
        self.sent.append(Sent("edit", body, message, request.match_info["token"]))
        return _json(message)

    async def _dm_channel(self, request: web.Request) -> web.Response:
        body = await request.json()
        recipient = user(str(body["recipient_id"]))
        return _json({"id": DM_CHANNEL, "type": 1, "recipients": [recipient], "last_message_id": None})

    async def _channel_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self._message(body, request.match_info["channel"])
        self.sent.append(Sent("channel", body, message))
        return _json(message)

    def messages(self) -> list[dict[str, Any]]:
        """Every message the bot posted (not edits), as Discord would now hold it."""
        return [s.message for s in self.sent if s.message is not None and s.route != "edit"]

    async def settle(self, quiet: float = 0.1) -> None:
        seen = -1
        while seen != len(self.sent):
            seen = len(self.sent)
            await asyncio.sleep(quiet)


def _json(data: Any) -> web.Response:
    # discord.py reads a body as JSON only for exactly this content type, with no charset.
    return web.Response(body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


def user(user_id: str = "600000000000000001") -> dict[str, Any]:
    return {
        "id": user_id,
        "username": "runner",
        "discriminator": "0",
        "avatar": None,
        "global_name": "Runner",
    }


_ids = itertools.count(int(time.time() * 1000) << 22)


def interaction(
    kind: int, data: dict[str, Any], runner: str, guild: bool, locale: str = "en-GB", permissions: str = "0"
) -> dict[str, Any]:
    """An interaction as INTERACTION_CREATE carries it: 2 a command, 3 a component, 5 a form."""
    payload: dict[str, Any] = {
        "id": str(next(_ids)), "application_id": APP_ID, "type": kind, "token": f"token-{next(_ids)}",
        "version": 1, "data": data, "channel_id": CHANNEL, "locale": locale, "app_permissions": "0",
        "entitlements": [], "attachment_size_limit": 8388608, "context": 0 if guild else 1,
        "authorizing_integration_owners": {"0": GUILD} if guild else {"1": runner},
    }  # fmt: skip
    if guild:
        payload["guild_id"] = GUILD
        payload["guild_locale"] = "en-US"
        payload["member"] = {
            "user": user(runner), "roles": [], "joined_at": STAMP, "deaf": False, "mute": False,
            "flags": 0, "permissions": permissions,
        }  # fmt: skip
    else:
        payload["user"] = user(runner)
    return payload


def dm_message(text: str, runner: str) -> dict[str, Any]:
    """A message a runner typed in their DM with the bot, as MESSAGE_CREATE carries it."""
    return {
        "id": str(next(_ids)), "channel_id": DM_CHANNEL, "type": 0, "content": text,
        "author": user(runner),
        "attachments": [], "embeds": [], "mentions": [], "mention_roles": [], "pinned": False,
        "mention_everyone": False, "tts": False, "timestamp": STAMP, "edited_timestamp": None, "flags": 0,
        "components": [],
    }  # fmt: skip


class Gateway:
    """Feeds interactions to a logged-in client as the gateway would."""

    def __init__(self, client: discord.Client, api: DiscordApi, runner: str = "600000000000000001") -> None:
        self.client = client
        self.api = api
        self.runner = runner
        self.locale = "en-GB"
        self.permissions = "0"
        """The member's permissions in the server, as Discord resolves them (a bit field)."""

    async def _deliver(self, payload: dict[str, Any]) -> None:
        self.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        await self.api.settle()

    async def command(self, sub: str, guild: bool = True, **options: str) -> None:
        inner = [{"type": 3, "name": name, "value": value} for name, value in options.items()]
        data = {
            "id": "1000",
            "name": "knee",
            "type": 1,
            "options": [{"type": 1, "name": sub, "options": inner}],
        }
        await self._deliver(interaction(2, data, self.runner, guild, self.locale, self.permissions))

    async def click(self, message: dict[str, Any], value: str | list[str], guild: bool = True) -> None:
        """Click the button for `value`, or pick several values in the message's select menu."""
        for row in message["components"]:
            for component in row["components"]:
                custom_id = component.get("custom_id", "")
                if isinstance(value, list) and component["type"] == 3:
                    data = {"custom_id": custom_id, "component_type": 3, "values": value}
                elif isinstance(value, str) and component["type"] == 2 and custom_id.endswith(f":{value}"):
                    data = {"custom_id": custom_id, "component_type": 2}
                else:
                    continue
                await self._deliver(
                    {**interaction(3, data, self.runner, guild, self.locale), "message": message}
                )
                return
        raise AssertionError(f"no component for {value!r} on the message")

    async def dm(self, text: str) -> None:
        """A message typed in the runner's DM with the bot, as MESSAGE_CREATE delivers it."""
        message = dm_message(text, self.runner)
        self.client._connection.parse_message_create(message)  # type: ignore[arg-type]
        await self.api.settle()

    async def type_number(self, message: dict[str, Any], text: str, guild: bool = True) -> None:
        """Click "Type my answer", then submit the modal it opened with `text`."""
        button = next(
            c for r in message["components"] for c in r["components"] if c["custom_id"].startswith("knee:n:")
        )
        pressed = interaction(
            3, {"custom_id": button["custom_id"], "component_type": 2}, self.runner, guild, self.locale
        )
        await self._deliver({**pressed, "message": message})
        # The reply to this press, not whatever the bot sent last (an earlier turn's edit may land after it).
        modal = next(
            s.body for s in reversed(self.api.sent) if s.route == "callback" and s.token == pressed["token"]
        )
        assert modal["type"] == 9, "the button opens a modal"
        field_id = modal["data"]["components"][0]["components"][0]["custom_id"]
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": field_id, "value": text}]}]
        submit = {"custom_id": modal["data"]["custom_id"], "components": rows}
        # Discord sends the message whose button opened the form along with the submit.
        await self._deliver({**interaction(5, submit, self.runner, guild, self.locale), "message": message})


def check_discord_limits(body: dict[str, Any]) -> None:
    """Discord's documented limits for a message payload, and no mention allowed."""
    data = body.get("data", body) if "type" in body and "data" in body else body
    if not isinstance(data, dict) or not any(k in data for k in ("content", "embeds", "components")):
        return
    assert len(data.get("content") or "") <= 2000
    embeds = data.get("embeds") or []
    assert len(embeds) <= 10
    assert sum(len(e.get("description") or "") + len(e.get("title") or "") for e in embeds) <= 6000
    for embed in embeds:
        assert len(embed.get("description") or "") <= 4096
    rows = data.get("components") or []
    assert len(rows) <= 5
    for row in rows:
        assert len(row["components"]) <= 5
        for component in row["components"]:
            assert 1 <= len(component.get("custom_id", "x")) <= 100
            assert len(component.get("label") or "") <= 80
            if component["type"] == 3:
                assert len(component["options"]) <= 25
                assert all(len(o["label"]) <= 100 for o in component["options"])
    if "content" in data or "embeds" in data:
        assert data.get("allowed_mentions", {}).get("parse") == [], f"mentions allowed in {data}"
