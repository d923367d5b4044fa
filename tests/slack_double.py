"""A local Slack: a recording Web API double, and a client that sends signed requests the way Slack does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from tests.redis_server import free_port
from tests.transcript import kneebot_command

SECRET = "test-signing-secret"
TEAM = "T0CLUB"


@dataclass
class Call:
    method: str
    args: dict[str, Any]


@dataclass
class SlackApi:
    """Answers the Web API methods the bot uses and records every call."""

    calls: list[Call] = field(default_factory=list)
    posted: dict[str, list[str]] = field(default_factory=dict)
    """Texts of chat.postMessage by channel, for waiting on one runner under load."""
    server: TestServer | None = None
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

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
        if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args = await self._args(request)
        self.calls.append(Call(method, args))
        if method == "chat.postMessage":
            self.posted.setdefault(str(args.get("channel")), []).append(str(args.get("text")))
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://club.slack.com/",
                    "team": "Club",
                    "user": "kneebot",
                    "team_id": TEAM,
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                    "is_enterprise_install": False,
                }
            )
        if method == "users.info":
            locale = "es-ES" if str(args.get("user", "")).endswith("ES") else "en-GB"
            return web.json_response({"ok": True, "user": {"id": args.get("user"), "locale": locale}})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))}})
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            ts = args.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            args["_ts"] = ts  # what the message is known by from now on
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": ts})
        return web.json_response({"ok": True})

    async def _respond(self, request: web.Request) -> web.Response:
        self.calls.append(Call("response_url", await request.json()))
        return web.Response(text="ok")

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


class SlackClient:
    """Sends what Slack sends: slash commands, block actions and DM events, signed."""

    def __init__(self, url: str, api: SlackApi, user: str = "U0RUNNER") -> None:
        self.url = url
        self.api = api
        self.user = user
        self.counter = itertools.count(1)

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
        form = {
            "token": "legacy", "team_id": TEAM, "team_domain": "club", "channel_id": channel,
            "channel_name": "general", "user_id": self.user, "user_name": "runner", "command": "/knee",
            "text": text, "api_app_id": "A0KNEE", "response_url": self.api.response_url,
            "trigger_id": f"trigger.{next(self.counter)}",
        }  # fmt: skip
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **sign_args)

    async def dm(self, text: str, event_id: str | None = None, retry: int | None = None) -> tuple[int, str]:
        number = next(self.counter)
        envelope = {
            "token": "legacy", "team_id": TEAM, "api_app_id": "A0KNEE", "type": "event_callback",
            "event_id": event_id or f"Ev{number:08d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
            "event": {"type": "message", "channel_type": "im", "channel": f"D{self.user}", "user": self.user,
                      "text": text, "ts": f"{time.time():.6f}", "team": TEAM},
        }  # fmt: skip
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return await self.post(json.dumps(envelope), "application/json", headers)

    async def click(self, message: dict[str, Any], value: str | list[str]) -> tuple[int, str]:
        """Click the button whose value is `value` on a posted message; a list ticks boxes then Done."""
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
        else:
            action, block_id = _find(blocks, lambda e: json.loads(e.get("value") or "{}").get("v") == value)
        payload = {
            "type": "block_actions", "user": {"id": self.user, "team_id": TEAM},
            "team": {"id": TEAM, "domain": "club"},
            "api_app_id": "A0KNEE", "token": "legacy", "trigger_id": f"trigger.{next(self.counter)}",
            "container": {"type": "message", "message_ts": message["_ts"], "channel_id": message["channel"]},
            "channel": {"id": message["channel"]},
            "message": {"ts": message["_ts"], "text": message["text"], "blocks": blocks, "type": "message"},
            "state": {"values": state},
            "actions": [{**action, "block_id": block_id, "action_ts": f"{time.time():.6f}"}],
        }  # fmt: skip
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )


def _find(blocks: list[dict[str, Any]], wanted: Any) -> tuple[dict[str, Any], str]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button" and wanted(element):
                return element, block["block_id"]
    raise AssertionError("no such button on the message")


def check_block_kit(payload: dict[str, Any]) -> None:
    """Slack's documented limits for a message payload."""
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
    api_url: str, store: str, log: Path | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    """A `kneebot slack --http` process; its log goes to `log` (a pipe fills up under load)."""
    port = free_port()
    env = {**os.environ, "KNEEBOT_STORE": store, "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *kneebot_command(), "slack", "--http", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab") if log else asyncio.subprocess.PIPE,
    )  # fmt: skip
    await wait_for_port(port)
    return process, f"http://127.0.0.1:{port}/slack/events"
