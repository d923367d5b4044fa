"""A local Discord for `kneebot discord` as a process: the recording REST double plus a gateway.

The bot finds the gateway the way it finds Discord's, by `GET /gateway/bot` on `DISCORD_API_URL`.
The gateway speaks plain JSON text frames (discord.py reads a text frame as JSON even when it
asked for `compress=zlib-stream`): op 10 HELLO, op 2 IDENTIFY answered by op 0 READY, op 1
heartbeats answered by op 11, and INTERACTION_CREATE / MESSAGE_CREATE dispatches with a sequence
number. Runners click, pick and type through `Runner`, whose payloads are built as Discord sends
them, and each step waits for the bot's answer to that very interaction (by its token).
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.discord_double import APP_ID, BOT, DiscordApi, _json, dm_message, interaction
from tests.transcript import kneebot_command

TOKEN = "discord-test-token"


@dataclass
class Session:
    """One gateway connection."""

    ws: web.WebSocketResponse
    query: dict[str, str]
    identify: dict[str, Any] | None = None
    heartbeats: int = 0
    seq: int = 0
    closed: int | None = None
    """The close code the bot sent, once it has closed."""

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        await self.ws.send_json({"op": 0, "t": event, "s": self.seq, "d": data})


@dataclass
class LiveDiscord(DiscordApi):
    sessions: list[Session] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_get("/gateway", self._gateway)

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {TOKEN}":
            return web.Response(status=401, body=b'{"message": "401: Unauthorized", "code": 0}',
                                headers={"Content-Type": "application/json"})  # fmt: skip
        return await super()._me(request)

    async def _gateway_bot(self, _: web.Request) -> web.Response:
        assert self.server is not None
        return _json({
            "url": str(self.server.make_url("/gateway")).replace("http://", "ws://"),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        })  # fmt: skip

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = Session(ws, dict(request.query))
        self.sessions.append(session)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = frame.json()
            if message["op"] == 1:
                session.heartbeats += 1
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif message["op"] == 2:
                session.identify = message["d"]
                assert self.server is not None
                ready = {
                    "v": 10, "user": BOT, "guilds": [], "session_id": f"session-{len(self.sessions)}",
                    "resume_gateway_url": str(self.server.make_url("/gateway")).replace("http://", "ws://"),
                    "application": {"id": APP_ID, "flags": 0},
                }  # fmt: skip
                if "shard" in session.identify:
                    ready["shard"] = session.identify["shard"]
                await session.dispatch("READY", ready)
            await self.note()
        session.closed = ws.close_code
        await self.note()
        return ws

    async def connected(self, count: int) -> Session:
        """The `count`-th connection, once it has identified and been told READY."""

        def ready() -> Session | None:
            if len(self.sessions) < count:
                return None
            session = self.sessions[count - 1]
            return session if session.identify is not None and session.seq >= 1 else None

        found: Session = await self.until(ready, f"gateway connection {count}")
        return found

    async def disconnected(self, session: Session) -> int:
        code: int = await self.until(lambda: session.closed, "the bot to close its gateway connection")
        return code

    def live(self) -> Session:
        return next(s for s in reversed(self.sessions) if s.closed is None and s.identify is not None)

    def answered(self, token: str, route: str) -> list[dict[str, Any]]:
        return [
            s.body if s.message is None else s.message
            for s in self.sent
            if s.token == token and s.route == route
        ]


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row["components"]]


class Runner:
    """One runner in a server, talking to the bot through the gateway and the REST double."""

    def __init__(self, discord: LiveDiscord, user_id: str = "600000000000000001", guild: bool = True) -> None:
        self.discord = discord
        self.user_id = user_id
        self.guild = guild

    async def _send(self, kind: int, data: dict[str, Any], message: dict[str, Any] | None = None) -> str:
        payload = interaction(kind, data, self.user_id, self.guild)
        if message is not None:
            payload["message"] = message
        await self.discord.live().dispatch("INTERACTION_CREATE", payload)
        return str(payload["token"])

    async def _turn(self, token: str) -> dict[str, Any]:
        """The bot's answer to one interaction: the follow-up that asks something or ends the check."""

        def last() -> dict[str, Any] | None:
            done = [m for m in self.discord.answered(token, "followup") if m["components"] or m["embeds"]]
            return done[-1] if done else None

        turn: dict[str, Any] = await self.discord.until(last, "the bot's answer")
        return turn

    async def command(self, sub: str) -> dict[str, Any]:
        data = {"id": "1000", "name": "knee", "type": 1, "options": [{"type": 1, "name": sub, "options": []}]}
        return await self._turn(await self._send(2, data))

    async def click(self, message: dict[str, Any], value: str | list[str]) -> dict[str, Any]:
        """Click the button for `value`, or pick the values in the message's select menu."""
        for component in components(message):
            if isinstance(value, list) and component["type"] == 3:
                data = {"custom_id": component["custom_id"], "component_type": 3, "values": value}
            elif (
                isinstance(value, str)
                and component["type"] == 2
                and component["custom_id"].endswith(f":{value}")
            ):
                data = {"custom_id": component["custom_id"], "component_type": 2}
            else:
                continue
            return await self._turn(await self._send(3, data, message))
        raise AssertionError(f"no component for {value!r} on the message")

    async def press(self, message: dict[str, Any], custom_id: str) -> dict[str, Any]:
        """Click the button with this custom id."""
        assert custom_id in [c["custom_id"] for c in components(message)], "no such button"
        return await self._turn(await self._send(3, {"custom_id": custom_id, "component_type": 2}, message))

    async def open_form(self, message: dict[str, Any]) -> dict[str, Any]:
        """Click "Type my answer"; return the form (modal) the bot opened."""
        [button] = [c for c in components(message) if c["custom_id"].startswith("knee:n:")]
        token = await self._send(3, {"custom_id": button["custom_id"], "component_type": 2}, message)
        forms = await self.discord.until(
            lambda: [b for b in self.discord.answered(token, "callback") if b["type"] == 9], "the form"
        )
        form: dict[str, Any] = forms[0]["data"]
        form["message"] = message
        return form

    async def dm(self, text: str) -> dict[str, Any]:
        """Type `text` in the DM with the bot; the bot's answer is posted in that channel."""
        before = len(self.discord.sent)

        def last() -> dict[str, Any] | None:
            done = [
                s.message for s in self.discord.sent[before:]
                if s.route == "channel" and s.message and (s.message["components"] or s.message["embeds"])
            ]  # fmt: skip
            return done[-1] if done else None

        await self.discord.live().dispatch("MESSAGE_CREATE", dm_message(text, self.user_id))
        turn: dict[str, Any] = await self.discord.until(last, "the bot's answer in the DM")
        return turn

    async def submit(self, form: dict[str, Any], text: str) -> dict[str, Any]:
        """Type `text` in the form's field and submit it, as Discord delivers a modal submit."""
        [row] = form["components"]
        [field_] = row["components"]
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": field_["custom_id"], "value": text}]}]
        token = await self._send(5, {"custom_id": form["custom_id"], "components": rows}, form["message"])
        return await self._turn(token)


async def start_bot(
    api_url: str, store: str, log: Path, *args: str, **env: str
) -> asyncio.subprocess.Process:
    """`kneebot discord` as a process, pointed at the double; its stderr goes to `log`."""
    environment = {**os.environ, "DISCORD_TOKEN": TOKEN, "DISCORD_API_URL": api_url,
                   "KNEEBOT_STORE": store, **env}  # fmt: skip
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            *kneebot_command(), "discord", *args, env=environment,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


async def stop_bot(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> int:
    if process.returncode is None:
        process.send_signal(signum)
    return await asyncio.wait_for(process.wait(), 20)
