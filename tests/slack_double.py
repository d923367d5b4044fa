"""A local Slack: a recording Web API double, a Socket Mode server, and runners that send what Slack
sends, as signed HTTP requests or as Socket Mode envelopes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, WSMsgType, web
from aiohttp.test_utils import TestServer
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from tests.redis_server import free_port
from tests.transcript import faketime, kneebot_command

SECRET = "test-signing-secret"
TEAM = "T0CLUB"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str = ""
    """The bearer token the call was made with (each workspace's own, for an installed app)."""


def installed_token(team: str) -> str:
    """The bot token the double's `oauth.v2.access` hands a workspace."""
    return f"xoxb-{team}-installed"


def team_of(token: str) -> str:
    """The workspace a bot token belongs to (`xoxb-test`: the single-token workspace)."""
    parts = token.split("-")
    return parts[1] if len(parts) == 3 and parts[2] == "installed" else TEAM


@dataclass
class SlackApi:
    """Answers the Web API methods the bot uses and records every call."""

    calls: list[Call] = field(default_factory=list)
    posted: dict[str, list[str]] = field(default_factory=dict)
    """Texts of chat.postMessage by channel, for waiting on one runner under load."""
    server: TestServer | None = None
    socket_url: str = ""
    """What `apps.connections.open` hands out: the Socket Mode server's ws:// URL."""
    connections: set[tuple[str, int]] = field(default_factory=set)
    """The client ends of the connections Web API calls came in on (one session reuses them)."""
    refused: list[Call] = field(default_factory=list)
    """Calls answered with HTTP 429 (see `ratelimit`), not in `calls`."""
    malformed: list[str] = field(default_factory=list)
    """What slack_sdk's models found wrong in a message's blocks; `stop` fails the test on any."""
    _well_formed: set[str] = field(default_factory=set)
    """Blocks already checked and found right (the load tests post the same questions often)."""
    _limits: dict[str, int] = field(default_factory=dict)
    _holds: dict[str, float] = field(default_factory=dict)
    _refusals: dict[str, str] = field(default_factory=dict)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    revoked: set[str] = field(default_factory=set)
    """Tokens Slack no longer accepts (an uninstalled workspace's)."""

    def hold(self, method: str, seconds: float) -> None:
        """Answer the next call of `method` only after `seconds` (a slow Slack)."""
        self._holds[method] = seconds

    def ratelimit(self, method: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` as Slack does when rate limited."""
        self._limits[method] = self._limits.get(method, 0) + times

    def break_once(self, method: str) -> None:
        """The next call of `method` meets a proxy's HTML error page instead of Slack's JSON."""
        self._refusals[method] = "<html>"

    def refuse(self, method: str, error: str) -> None:
        """Answer the next call of `method` with `{"ok": false, "error": error}` (HTTP 200)."""
        self._refusals[method] = error

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{id}", self._respond)
        self.server = TestServer(app)
        await self.server.start_server()
        return str(self.server.make_url("/api/"))

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        assert not self.malformed, "malformed Block Kit was posted:\n" + "\n".join(self.malformed)

    @property
    def response_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/respond/1"))

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            return {**args, **(await request.json())}
        args.update(await request.post())
        for name in ("blocks", "attachments"):
            if isinstance(args.get(name), str):
                args[name] = json.loads(args[name])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = "xapp-" if method == "apps.connections.open" else "xoxb-"
        authorization = request.headers.get("Authorization", "")
        args = await self._args(request)
        if method == "oauth.v2.access":
            return self._oauth(authorization, args)
        if not authorization.startswith(f"Bearer {token}"):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        used = authorization.removeprefix("Bearer ")
        if used in self.revoked:
            return web.json_response({"ok": False, "error": "token_revoked"})
        if request.transport is not None:
            self.connections.add(request.transport.get_extra_info("peername")[:2])
        if self._limits.get(method):
            self._limits[method] -= 1
            self.refused.append(Call(method, args))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if method in self._refusals:
            self.refused.append(Call(method, args))
            error = self._refusals.pop(method)
            if error == "<html>":
                return web.Response(
                    status=502,
                    text="<html><body>Bad gateway</body></html>",
                    content_type="application/json",  # mislabelled, as some proxies do
                )
            return web.json_response({"ok": False, "error": error})
        problems = self._check(args) if method in _MESSAGES else []
        if problems:  # as Slack answers a message it cannot show
            self.malformed.extend(f"{method}: {problem}" for problem in problems)
            self.refused.append(Call(method, args, used))
            return web.json_response({"ok": False, "error": "invalid_blocks"})
        self.calls.append(Call(method, args, used))
        if method in self._holds:
            await asyncio.sleep(self._holds.pop(method))
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": self.socket_url})
        if method == "chat.postMessage":
            self.posted.setdefault(str(args.get("channel")), []).append(str(args.get("text")))
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://club.slack.com/",
                    "team": "Club",
                    "user": "kneebot",
                    "team_id": team_of(used),
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                    "is_enterprise_install": False,
                }
            )
        if method == "users.info":
            who = str(args.get("user", ""))
            locale = "es-ES" if who.endswith("ES") else "en-GB"
            found = {"id": who, "locale": locale, "is_admin": who.startswith("UADMIN"), "is_owner": False}
            return web.json_response({"ok": True, "user": found})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))}})
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            ts = args.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            args["_ts"] = ts  # what the message is known by from now on
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": ts})
        return web.json_response({"ok": True})

    def _oauth(self, authorization: str, args: dict[str, Any]) -> web.Response:
        """`oauth.v2.access`: the app's id and secret (HTTP Basic, as slack_sdk sends them) and a
        code `code-<team>` from the install page's redirect; the workspace's bot token back."""
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        code = str(args.get("code", ""))
        self.calls.append(Call("oauth.v2.access", args))
        if authorization != expected:
            return web.json_response({"ok": False, "error": "invalid_client_id"})
        if not code.startswith("code-"):
            return web.json_response({"ok": False, "error": "invalid_code"})
        team = code.removeprefix("code-")
        return web.json_response(
            {"ok": True, "app_id": "A0KNEE", "authed_user": {"id": "UADMIN1"}, "scope": "commands,chat:write",
             "token_type": "bot", "access_token": installed_token(team), "bot_user_id": "UBOT",
             "team": {"id": team, "name": f"Club {team}"}, "enterprise": None, "is_enterprise_install": False}
        )  # fmt: skip

    async def _respond(self, request: web.Request) -> web.Response:
        args = await request.json()
        self.malformed.extend(f"response_url: {problem}" for problem in self._check(args))
        self.calls.append(Call("response_url", args))
        return web.Response(text="ok")

    def _check(self, args: dict[str, Any]) -> list[str]:
        seen = json.dumps(args.get("blocks"), sort_keys=True)
        if seen in self._well_formed:
            return []
        problems = block_kit_problems(args)
        if not problems:
            self._well_formed.add(seen)
        return problems

    def made(self, method: str) -> list[dict[str, Any]]:
        return [call.args for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.made(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} calls, got {len(self.made(method))}")
            await asyncio.sleep(0.01)
        return self.made(method)

    async def settle(self, quiet: float = 0.15) -> None:
        """Wait until no call has arrived for a moment (listeners run after the ack)."""
        seen = -1
        while seen != len(self.calls):
            seen = len(self.calls)
            await asyncio.sleep(quiet)


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


class Runner:
    """One runner's actions as Slack delivers them; subclasses choose the transport."""

    def __init__(self, api: SlackApi, user: str = "U0RUNNER", team: str = TEAM) -> None:
        self.api = api
        self.user = user
        self.team = team
        self.counter = itertools.count(1)

    def command_payload(self, text: str, channel: str) -> dict[str, str]:
        return {
            "token": "legacy", "team_id": self.team, "team_domain": "club", "channel_id": channel,
            "channel_name": "general" if channel.startswith("C") else "directmessage",
            "user_id": self.user, "user_name": "runner", "command": "/knee", "text": text,
            "api_app_id": "A0KNEE", "is_enterprise_install": "false",
            "response_url": self.api.response_url, "trigger_id": f"trigger.{self.user}.{next(self.counter)}",
        }  # fmt: skip

    def dm_payload(
        self, text: str, event_id: str | None = None, files: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        number = next(self.counter)
        stamp = f"{time.time():.6f}"
        event: dict[str, Any] = {
            "client_msg_id": str(uuid.uuid4()), "type": "message", "text": text, "user": self.user,
            "ts": stamp, "team": self.team, "channel": f"D{self.user}", "event_ts": stamp,
            "channel_type": "im",
        }  # fmt: skip
        if files is not None:  # how Slack sends a message with attachments: the text beside them
            event.update(subtype="file_share", files=files, upload=False, display_as_bot=False)
        return {
            "token": "legacy", "team_id": self.team, "api_app_id": "A0KNEE", "event": event,
            "type": "event_callback", "event_id": event_id or f"Ev{number:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team, "user_id": "UBOT",
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": f"4-message-{self.team}-D{self.user}",
        }  # fmt: skip

    def click_payload(self, message: dict[str, Any], value: str | list[str]) -> dict[str, Any]:
        """A block_actions payload for clicking the button whose value is `value` on a posted
        message; a list ticks those boxes, then clicks Done; `BACK` clicks Back."""
        blocks = message["blocks"]
        state: dict[str, dict[str, Any]] = {}
        if isinstance(value, list):
            for block in blocks:
                for element in block.get("elements", []):
                    if element.get("type") == "checkboxes":
                        picked = [o for o in element["options"] if o["value"] in value]
                        state[block["block_id"]] = {
                            element["action_id"]: {"type": "checkboxes", "selected_options": picked}
                        }
            action, block_id = _find(blocks, lambda e: e["action_id"] == "knee_done")
        elif value == BACK:
            action, block_id = _find(blocks, lambda e: e["action_id"] == "knee_back")
        else:
            action, block_id = _find(
                blocks,
                lambda e: e["action_id"].startswith("knee_pick") and json.loads(e["value"]).get("v") == value,
            )
        return {
            "type": "block_actions",
            "user": {"id": self.user, "username": "runner", "name": "runner", "team_id": self.team},
            "api_app_id": "A0KNEE", "token": "legacy",
            "container": {"type": "message", "message_ts": message["_ts"], "channel_id": message["channel"],
                          "is_ephemeral": False},
            "trigger_id": f"trigger.{self.user}.{next(self.counter)}",
            "team": {"id": self.team, "domain": "club"},
            "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": message["channel"], "name": "directmessage"},
            "message": {"user": "UBOT", "type": "message", "ts": message["_ts"], "bot_id": "BBOT",
                        "app_id": "A0KNEE", "text": message["text"], "team": self.team, "blocks": blocks},
            "state": {"values": state}, "response_url": self.api.response_url,
            "actions": [{**action, "block_id": block_id, "action_ts": f"{time.time():.6f}"}],
        }  # fmt: skip


class SlackClient(Runner):
    """Sends what Slack sends over HTTP: slash commands, block actions and DM events, signed."""

    def __init__(self, url: str, api: SlackApi, user: str = "U0RUNNER", team: str = TEAM) -> None:
        super().__init__(api, user, team)
        self.url = url

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None, **sign_args: Any
    ) -> tuple[int, str]:
        sent = {"Content-Type": content_type, **sign(body, **sign_args), **(headers or {})}
        async with (
            ClientSession() as session,
            session.post(self.url, data=body.encode(), headers=sent) as answer,
        ):
            return answer.status, await answer.text()

    async def command(self, text: str = "", channel: str = "C0GENERAL", **sign_args: Any) -> tuple[int, str]:
        form = self.command_payload(text, channel)
        status, body = await self.post(urlencode(form), "application/x-www-form-urlencoded", **sign_args)
        if body.startswith("{"):
            check_block_kit(json.loads(body))  # an ack may carry a message
        return status, body

    async def dm(
        self,
        text: str,
        event_id: str | None = None,
        retry: int | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> tuple[int, str]:
        envelope = self.dm_payload(text, event_id, files)
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return await self.post(json.dumps(envelope), "application/json", headers)

    async def click(self, message: dict[str, Any], value: str | list[str]) -> tuple[int, str]:
        payload = self.click_payload(message, value)
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )


class SocketModeServer:
    """Slack's Socket Mode end: hands out envelopes over a websocket and waits for their acks.

    Shapes as slack_sdk's socket mode client reads them: a `hello` on connecting, then
    `{"envelope_id", "type", "payload", "accepts_response_payload"}` for `slash_commands`,
    `interactive` and `events_api` (with `retry_attempt`, `retry_reason`); the app acks with
    `{"envelope_id", "payload"?}`.
    """

    def __init__(self) -> None:
        self.server: TestServer | None = None
        self.socket: web.WebSocketResponse | None = None
        self.connections = 0
        self.connected = asyncio.Event()
        self.acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self.server = TestServer(app)
        await self.server.start_server()
        return str(self.server.make_url("/link/?ticket=t1&app_id=A0KNEE")).replace("http://", "ws://")

    async def stop(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.server is not None:
            await self.server.close()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()  # answers the client's pings with pongs
        await socket.prepare(request)
        self.socket = socket
        self.connections += 1
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {
                    "host": "applink-local",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": "A0KNEE"},
            }
        )
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                ack = json.loads(message.data)
                waiting = self.acks.pop(str(ack.get("envelope_id")), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(ack.get("payload") or {})
        return socket

    async def send(
        self, kind: str, payload: dict[str, Any], accepts_response_payload: bool = False, budget: float = 3.0
    ) -> dict[str, Any]:
        """Deliver one envelope; the ack's payload, which must come within Slack's 3 seconds."""
        await asyncio.wait_for(self.connected.wait(), 20)
        assert self.socket is not None
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        self.acks[envelope_id] = asyncio.get_running_loop().create_future()
        await self.socket.send_json(envelope)
        try:
            return await asyncio.wait_for(self.acks[envelope_id], budget)
        except TimeoutError:
            raise AssertionError(f"no ack for a {kind} envelope within {budget} s") from None


class SocketRunner(Runner):
    """A runner whose actions arrive as Socket Mode envelopes; each call returns the ack's payload."""

    def __init__(self, socket: SocketModeServer, api: SlackApi, user: str = "U0RUNNER") -> None:
        super().__init__(api, user)
        self.socket = socket

    async def command(self, text: str = "", channel: str = "C0GENERAL") -> dict[str, Any]:
        ack = await self.socket.send("slash_commands", self.command_payload(text, channel), True)
        check_block_kit(ack)  # an ack may carry a message
        return ack

    async def dm(self, text: str, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return await self.socket.send("events_api", self.dm_payload(text, files=files))

    async def click(self, message: dict[str, Any], value: str | list[str]) -> dict[str, Any]:
        return await self.socket.send("interactive", self.click_payload(message, value))


BACK = "<back>"


def _find(blocks: list[dict[str, Any]], wanted: Any) -> tuple[dict[str, Any], str]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button" and wanted(element):
                return element, block["block_id"]
    raise AssertionError("no such button on the message")


_MESSAGES = ("chat.postMessage", "chat.update", "chat.postEphemeral")


def block_kit_problems(payload: dict[str, Any]) -> list[str]:
    """What slack_sdk's Block Kit models find wrong with a message's blocks.

    Each block is parsed into its model and serialised again, which runs every limit check the
    models have (text lengths, elements per block, options per group...); a block that does not
    come back as it went in has a type, field or value the models do not know. The models do not
    count blocks: Slack takes 50 at most.
    """
    blocks = payload.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    problems = [f"{len(blocks)} blocks, over Slack's 50"] if len(blocks) > 50 else []
    for block in blocks:
        try:
            parsed = Block.parse(block)
            if parsed is None:
                problems.append(f"not a Block Kit block: {block!r:.200}")
            elif parsed.to_dict() != block:
                problems.append(f"fields slack_sdk does not know: {block!r:.300}")
        except (SlackObjectFormationError, TypeError, AttributeError, KeyError) as exc:
            problems.append(f"{exc}: {block!r:.300}")
    return problems


def check_block_kit(payload: dict[str, Any]) -> None:
    """Slack's documented limits for a message payload, and slack_sdk's models' own checks."""
    problems = block_kit_problems(payload)
    assert not problems, "\n".join(problems)
    blocks = payload.get("blocks") or []
    assert len(blocks) <= 50, f"{len(blocks)} blocks"
    assert len(payload.get("text") or "") <= 40_000
    for block in blocks:
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75
                assert len(element.get("value", "")) <= 2000
                assert len(element["action_id"]) <= 255
            if element.get("type") == "checkboxes":
                assert len(element["options"]) <= 10
                for option in element["options"]:
                    assert len(option["text"]["text"]) <= 75
                    assert len(option["value"]) <= 150


async def wait_for_port(port: int, tries: int = 300) -> None:
    """Until something listens on the loopback port."""
    for _ in range(tries):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing started listening on port {port}")


async def spawn_worker(
    api_url: str, store: str, log: Path | None = None, clock: str | None = None, *, hosted: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    """A `kneebot slack --http` process; its log goes to `log` (a pipe fills up under load).
    `clock` runs it under libfaketime (`+4d`: four days from now). `hosted`: the app any club
    installs (its id and secret, no bot token), logging at INFO."""
    port = free_port()
    env = {**os.environ, "KNEEBOT_STORE": store, "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url}  # fmt: skip
    if hosted:
        del env["SLACK_BOT_TOKEN"]
        env.update(SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET, KNEEBOT_LOG_LEVEL="INFO")
    process = await asyncio.create_subprocess_exec(
        *faketime(clock), *kneebot_command(), "slack", "--http", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab") if log else asyncio.subprocess.PIPE,
    )  # fmt: skip
    await wait_for_port(port)
    return process, f"http://127.0.0.1:{port}/slack/events"
