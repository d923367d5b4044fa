"""Slack over HTTP, end to end, with every part in its own process.

    python bench/slack_http.py double PORT                  # a lean Slack Web API double
    python bench/slack_http.py bare PORT API_URL MODE       # a bare bolt app, MODE fast or default
    python bench/slack_http.py client                       # the load client, driven on stdin

`run.py` starts one Web API double, one load client, and three servers: `kneebot slack --http`
and a bare slack-bolt app in each of bolt's two modes (the default, whose async adapter polls for
the ack every 10 ms, and `process_before_response=True`). The bare app does the same Slack-facing
work as kneebot: it acks, then for `/knee help` posts the help to the command's response_url and
for a click or a DM posts one chat.postMessage to the same double, each started as a task after
the ack in the fast mode (as kneebot does) and awaited in the listener in the default mode (as
bolt runs it in the background). Requests are signed as Slack
signs them and shaped as Slack sends them (the payloads the tests send).

The client answers one JSON command per line; a run ends when the last ack is back and the
double has received every chat.postMessage the run asked for, so throughput and the server's CPU
include the work done after the ack.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import free_port  # noqa: E402
from tests.slack_double import SECRET, TEAM, Runner, SlackApi, sign  # noqa: E402
from tests.transcript import kneebot_command  # noqa: E402

SCENARIOS = ("help", "click", "dm")
"""`/knee help` (acked at once, the help then posted to the command's response_url), a click on
Start (block_actions; kneebot edits the clicked message and posts the first question), a typed DM
answering that question
(event_callback message.im; kneebot reads it and posts the next question)."""
POSTS = {"help": 1, "click": 1, "dm": 1}
"""Posts a request leads to (chat.postMessage, or the response_url), for kneebot and the bare app
alike."""
CLICK_USERS = 32
"""Runners clicking Start in turn; clicking Start again starts over, the same work each time."""
HELP_TEXT = (
    "*kneebot* asks a few questions about your knee pain and suggests what to do next. "
    "It is not a diagnosis. Type `/knee` to start or carry on, `/knee forget` to delete what is "
    "kept about you, `/knee help` for this. Answers are kept for 24 hours after your last one."
)


# The Web API double ----------------------------------------------------------------------------


def run_double(port: int) -> None:
    """Answers the methods kneebot and the bare app call; counts chat.postMessage for the client."""
    from aiohttp import web

    counts: dict[str, int] = {}
    ts = iter(range(1, 1 << 62))

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        await request.read()
        counts[method] = counts.get(method, 0) + 1
        if method == "auth.test":
            return web.json_response({"ok": True, "url": "https://club.slack.com/", "team": "Club",
                                      "user": "kneebot", "team_id": TEAM, "user_id": "UBOT", "bot_id": "BBOT",
                                      "is_enterprise_install": False})  # fmt: skip
        if method == "users.info":
            return web.json_response({"ok": True, "user": {"id": "U", "locale": "en-GB"}})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D0BENCH"}})
        if method in ("chat.postMessage", "chat.update"):
            return web.json_response(
                {"ok": True, "channel": "D0BENCH", "ts": f"{1700000000 + next(ts)}.000100"}
            )
        return web.json_response({"ok": True})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(counts)

    async def respond(request: web.Request) -> web.Response:
        await request.read()
        counts["response_url"] = counts.get("response_url", 0) + 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/api/{method}", api)
    app.router.add_post("/respond/{n}", respond)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# The bare bolt app -----------------------------------------------------------------------------


def run_bare(port: int, api_url: str, mode: str) -> None:
    import re

    import aiohttp
    from aiohttp import web
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    fast = mode == "fast"
    app = AsyncApp(token="xoxb-bench", signing_secret=SECRET, process_before_response=fast)
    app.client.base_url = api_url
    running: set[asyncio.Task[Any]] = set()

    async def after_ack(client: AsyncWebClient, channel: str) -> None:
        work = client.chat_postMessage(channel=channel, text="Next question", blocks=[])
        if not fast:
            await work  # bolt already runs this listener in the background, the ack sent
            return
        task = asyncio.get_running_loop().create_task(work)  # as kneebot does after its ack
        running.add(task)
        task.add_done_callback(running.discard)

    @app.command("/knee")
    async def knee(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        work = respond(response_type="ephemeral", text=HELP_TEXT)
        if not fast:
            await work
            return
        task = asyncio.get_running_loop().create_task(work)
        running.add(task)
        task.add_done_callback(running.discard)

    @app.action(re.compile(r"^knee_pick:\d+$"))
    async def pick(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await after_ack(client, body["channel"]["id"])

    @app.event("message")
    async def message(event: dict[str, Any], client: AsyncWebClient) -> None:
        await after_ack(client, event["channel"])

    async def shared_session(_: web.Application) -> Any:
        # One HTTP session for every Web API call, as kneebot has: the same Web API cost.
        session = aiohttp.ClientSession()
        app.client.session = session
        yield
        await session.close()

    served = app.web_app(path="/slack/events", port=port)
    served.cleanup_ctx.append(shared_session)
    web.run_app(served, host="127.0.0.1", port=port, print=None, access_log=None)


# The load client -------------------------------------------------------------------------------


@dataclass
class _Api:
    """What the tests' payload builders read from their Slack double."""

    response_url: str = "http://127.0.0.1:9/respond/1"


@dataclass
class Client:
    stats_url: str
    intro: dict[str, Any]
    runners: dict[str, Runner] = field(default_factory=dict)
    serial: int = 0

    def runner(self, user: str) -> Runner:
        if user not in self.runners:
            respond_url = self.stats_url.rsplit("/stats", 1)[0] + "/respond/1"
            self.runners[user] = Runner(cast(SlackApi, _Api(respond_url)), user)
        return self.runners[user]

    def request(self, scenario: str, user: str) -> tuple[str, str]:
        """A body and its content type, as Slack would send it."""
        runner = self.runner(user)
        self.serial += 1
        if scenario == "help":
            return urlencode(runner.command_payload("help", "C0GENERAL")), "application/x-www-form-urlencoded"
        if scenario == "click":
            message = {**self.intro, "channel": f"D{user}", "_ts": "1700000000.000100"}
            payload = runner.click_payload(message, "start")
            payload["actions"][0]["action_ts"] = f"{time.time():.6f}{self.serial}"
            return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        envelope = runner.dm_payload("none of these", event_id=f"Ev{os.getpid()}x{self.serial}")
        return json.dumps(envelope), "application/json"

    async def posted(self, session: Any) -> int:
        async with session.get(self.stats_url) as answer:
            counts = await answer.json()
            return int(counts.get("chat.postMessage", 0)) + int(counts.get("response_url", 0))

    async def drain(self, session: Any, quiet: float = 0.05) -> int:
        """Wait until the double has had no chat.postMessage for `quiet` seconds (earlier work)."""
        seen = -1
        while True:
            now = await self.posted(session)
            if now == seen:
                return now
            seen = now
            await asyncio.sleep(quiet)

    async def settled(self, session: Any, posts: int, timeout: float = 10.0) -> int:
        """Wait until the double has received `posts` chat.postMessage calls in all."""
        deadline = time.perf_counter() + timeout
        posted = await self.posted(session)
        while posted < posts and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
            posted = await self.posted(session)
        return posted

    async def send(
        self, session: Any, url: str, scenario: str, users: list[str], concurrency: int, posts: int = 0
    ) -> list[float]:
        latencies: list[float] = []
        work = iter(users)

        async def worker() -> None:
            nonlocal posts
            for user in work:
                if concurrency == 1 and latencies:
                    # One client is one runner: the next request once the last one's work is done.
                    await self.settled(session, posts)
                body, content_type = self.request(scenario, user)
                headers = {"Content-Type": content_type, **sign(body)}
                started = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"the server answered {answer.status}")
                latencies.append(time.perf_counter() - started)
                posts += POSTS[scenario]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies

    async def command(self, session: Any, order: dict[str, Any]) -> dict[str, Any]:
        url, scenario, concurrency = order["url"], order["scenario"], order["concurrency"]
        users = list(order["users"])
        if order.get("prepare"):
            # Bring each runner to the first question (click Start), off the clock.
            await self.send(session, url, "click", users, concurrency, await self.posted(session))
            await self.drain(session)
            return {}
        before = await self.drain(session)
        expected = before + POSTS[scenario] * len(users)
        started = time.perf_counter()
        latencies = await self.send(session, url, scenario, users, concurrency, before)
        posted = await self.settled(session, expected)
        elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "p50": statistics.median(latencies) * 1e3,
            "p99": latencies[int(0.99 * (len(latencies) - 1))] * 1e3,
            "rps": len(latencies) / elapsed,
            "missing": max(0, expected - posted),
        }


async def _intro() -> dict[str, Any]:
    """kneebot's first message, the one whose Start button is clicked."""
    from datetime import timedelta

    from adapters.slack import render
    from bot.content import load_content
    from bot.conversations import Conversations
    from bot.model import ConversationKey, Event
    from bot.stores import open_store

    constants = {"emergency_number": "112", "retention_hours": 24, "unit": "miles"}
    service = Conversations(load_content(None, constants), open_store("memory://"), timedelta(hours=24))
    from datetime import UTC, datetime

    [reply] = await service.handle(ConversationKey("slack", TEAM, "U0"), Event("start", datetime.now(UTC)))
    text, blocks = render(reply)[0]
    return {"text": text, "blocks": blocks}


async def run_client() -> None:
    from aiohttp import ClientSession, TCPConnector

    client = Client(stats_url=sys.argv[2], intro=await _intro())
    loop = asyncio.get_running_loop()
    async with ClientSession(connector=TCPConnector(limit=64)) as session:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            answer = await client.command(session, json.loads(line))
            print(json.dumps(answer), flush=True)


# The orchestration run.py uses -----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (every thread), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


def server_command(name: str, port: int, api_url: str) -> list[str]:
    if name == "kneebot":
        return [*kneebot_command(), "slack", "--http", "--host", "127.0.0.1", "--port", str(port)]
    mode = "fast" if name == "bolt fast" else "default"
    return [sys.executable, str(Path(__file__)), "bare", str(port), api_url, mode]


def server_env(api_url: str) -> dict[str, str]:
    return {**os.environ, "KNEEBOT_STORE": "memory://", "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url}  # fmt: skip


SERVERS = ("kneebot", "bolt fast", "bolt default")


class Bench:
    """The double, the client and the three servers, each a process, for the length of a block."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}

    def __enter__(self) -> Bench:
        quiet = {
            "stdout": subprocess.DEVNULL,
            "stderr": None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
        }
        try:
            # Started together, waited for together: none of them calls another before it listens.
            double_port = free_port()
            double = subprocess.Popen(
                [sys.executable, str(Path(__file__)), "double", str(double_port)], **quiet
            )  # type: ignore[call-overload]
            self.processes.append(double)
            self.api_url = f"http://127.0.0.1:{double_port}/api/"
            ports = {double_port: double}
            for name in SERVERS:
                port = free_port()
                command = server_command(name, port, self.api_url)
                server = subprocess.Popen(command, env=server_env(self.api_url), **quiet)  # type: ignore[call-overload]  # fmt: skip
                self.processes.append(server)
                self.servers[name] = (server, f"http://127.0.0.1:{port}/slack/events")
                ports[port] = server
            for port, process in ports.items():
                wait_listening(port, process)
            stats = f"http://127.0.0.1:{double_port}/stats"
            self.client = subprocess.Popen([sys.executable, str(Path(__file__)), "client", stats],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
            self.processes.append(self.client)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def ask(self, order: dict[str, Any]) -> dict[str, Any]:
        assert self.client.stdin is not None
        assert self.client.stdout is not None
        self.client.stdin.write(json.dumps(order).encode() + b"\n")
        self.client.stdin.flush()
        line = self.client.stdout.readline()
        if not line:
            raise RuntimeError("the load client stopped")
        return cast(dict[str, Any], json.loads(line))

    def run(self, name: str, scenario: str, users: list[str], concurrency: int) -> dict[str, Any]:
        """One run against one server; its figures and its CPU per request (µs)."""
        process, url = self.servers[name]
        order = {"url": url, "scenario": scenario, "concurrency": concurrency, "users": users}
        if scenario == "dm":
            self.ask({**order, "prepare": True})
        before = cpu_seconds(process.pid)
        figures = self.ask(order)
        figures["cpu_us"] = (cpu_seconds(process.pid) - before) / len(users) * 1e6
        return figures


def users_for(scenario: str, requests: int, tag: str) -> list[str]:
    if scenario == "help":
        return [f"U{n % 50:04d}" for n in range(requests)]
    if scenario == "click":
        return [f"UCLICK{n % CLICK_USERS:03d}" for n in range(requests)]
    return [f"UDM{tag}N{n}" for n in range(requests)]  # each answers its first question once


def measure(
    requests: dict[int, int], rounds: int, warmup: int
) -> dict[tuple[str, int], list[dict[str, dict[str, Any]]]]:
    """For each scenario and client count, `rounds` rounds of one run per server, back to back,
    the servers' order turned each round; every run's figures by server."""
    found: dict[tuple[str, int], list[dict[str, dict[str, Any]]]] = {}
    with Bench() as bench:
        for scenario in SCENARIOS:
            for name in SERVERS:  # warm up: imports, caches, connections, the click runners' locales
                users = users_for(
                    scenario, max(warmup, CLICK_USERS if scenario == "click" else 0), f"w{name[-4:]}"
                )
                bench.run(name, scenario, users, 8)
            for concurrency, count in requests.items():
                runs = found.setdefault((scenario, concurrency), [])
                for n in range(rounds):
                    order = SERVERS if n % 2 == 0 else SERVERS[::-1]
                    round_: dict[str, dict[str, Any]] = {}
                    for name in order:
                        users = users_for(scenario, count, f"{concurrency}r{n}{name[-4:]}")
                        round_[name] = bench.run(name, scenario, users, concurrency)
                    runs.append(round_)
                print(
                    f"  Slack HTTP {scenario}, {concurrency} client(s): {rounds} rounds done", file=sys.stderr
                )
    return found


def cold_start(rounds: int) -> list[tuple[float, float]]:
    """Seconds from exec to listening, kneebot and a bare bolt app, in pairs, alternated.

    kneebot's modules are compiled to bytecode first, as installing a package does and as the
    bolt and aiohttp the bare app imports already are: with PYTHONDONTWRITEBYTECODE set (as on
    some shared machines) a checkout would otherwise compile its source on every start."""
    import compileall

    for package in ("bot", "adapters"):
        compileall.compile_dir(ROOT / package, quiet=1)
    api_url = "http://127.0.0.1:9/api/"  # neither calls the Web API before it listens
    pairs = []
    for n in range(rounds):
        times: dict[str, float] = {}
        for name in ("kneebot", "bolt fast") if n % 2 == 0 else ("bolt fast", "kneebot"):
            port = free_port()
            started = time.perf_counter()
            process = subprocess.Popen(server_command(name, port, api_url), env=server_env(api_url),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                wait_listening(port, process)
                times[name] = time.perf_counter() - started
            finally:
                process.terminate()
                process.wait()
        pairs.append((times["kneebot"], times["bolt fast"]))
    return pairs


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "double":
        run_double(int(sys.argv[2]))
    elif role == "bare":
        run_bare(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif role == "client":
        asyncio.run(run_client())
    else:
        sys.exit(f"unknown role {role!r}")
