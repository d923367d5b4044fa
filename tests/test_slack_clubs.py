"""The hosted Slack app: two clubs install it through the real OAuth endpoints, each is answered
with its own token, each club's admin sets its own emergency number from App Home, and an
uninstall forgets the club. Two `kneebot slack --http` workers share one store (SQLite, Redis),
and every step is sent to the worker that did not see the step before it."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from aiohttp import ClientSession

from tests.slack_double import (
    CLIENT_ID,
    SlackApi,
    SlackClient,
    installed_token,
    spawn_worker,
)

A, B = "T0ALPHA", "T0BRAVO"
DEFAULT = "911 (US), 999 (UK) or 112 (EU)"


async def start_worker(api_url: str, store: str, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """A hosted `kneebot slack --http`: the app's id and secret, no bot token."""
    process, url = await spawn_worker(api_url, store, log, hosted=True)
    return process, url.removesuffix("/slack/events")


async def install(base: str, team: str) -> str:
    """What an admin's browser does: open the Add to Slack page, approve, come back with a code."""
    async with ClientSession() as browser:
        async with browser.get(f"{base}/slack/install") as page:
            assert page.status == 200
            html = await page.text()
            cookie = page.headers["Set-Cookie"].split(";")[0]
        state = re.search(r"state=([0-9a-f-]+)", html)
        assert state is not None, "an Add to Slack link"
        assert f"client_id={CLIENT_ID}" in html
        query = urlencode({"code": f"code-{team}", "state": state[1]})
        async with browser.get(f"{base}/slack/oauth_redirect?{query}", headers={"Cookie": cookie}) as done:
            return f"{done.status} {await done.text()}"


def runner(base: str, api: SlackApi, user: str, team: str) -> SlackClient:
    return SlackClient(f"{base}/slack/events", api, user=user, team=team)


async def event(client: SlackClient, body: dict[str, Any]) -> tuple[int, str]:
    envelope = {
        "token": "legacy", "team_id": client.team, "api_app_id": "A0KNEE", "event": body,
        "type": "event_callback", "event_id": f"Ev{client.team}{next(client.counter):06d}",
        "event_time": 1700000000,
        "authorizations": [{"enterprise_id": None, "team_id": client.team, "user_id": "UBOT",
                            "is_bot": True, "is_enterprise_install": False}],
    }  # fmt: skip
    return await client.post(json.dumps(envelope), "application/json")


async def submit(client: SlackClient, view: dict[str, Any], typed: dict[str, str]) -> tuple[int, str]:
    """Fill the club settings form as Slack sends it back: each input's value in `state`."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        name, element = block["block_id"], block["element"]
        if element["type"] == "static_select":
            chosen = next((o for o in element["options"] if o["value"] == typed.get(name)), None)
            values[name] = {"value": {"type": "static_select", "selected_option": chosen}}
        else:
            given = typed.get(name, element.get("initial_value"))
            values[name] = {"value": {"type": "plain_text_input", "value": given}}
    payload = {
        "type": "view_submission", "team": {"id": client.team, "domain": "club"},
        "user": {"id": client.user, "username": "admin", "name": "admin", "team_id": client.team},
        "api_app_id": "A0KNEE", "token": "legacy", "trigger_id": f"trigger.{next(client.counter)}",
        "view": {**view, "id": "V0FORM", "team_id": client.team, "state": {"values": values},
                 "hash": "1.x", "app_id": "A0KNEE", "bot_id": "BBOT", "private_metadata": ""},
        "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    }  # fmt: skip
    return await client.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def to(api: SlackApi, method: str, **where: str) -> list[tuple[str, dict[str, Any]]]:
    """(token, args) of each call of `method` whose args include `where`."""
    return [(c.token, c.args) for c in api.calls if c.method == method and where.items() <= c.args.items()]


async def until(api: SlackApi, method: str, count: int, **where: str) -> list[tuple[str, dict[str, Any]]]:
    for _ in range(500):
        found = to(api, method, **where)
        if len(found) >= count:
            await api.settle(0.05)
            return to(api, method, **where)
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} {method} calls with {where}, got {to(api, method, **where)}")


async def urgent_outcome(api: SlackApi, first: SlackClient, second: SlackClient) -> tuple[str, str]:
    """A check that ends urgent, each click through the other worker; (token, outcome text)."""
    channel = f"D{first.user}"
    assert (await first.command("", channel=channel))[0] == 200
    [(_, intro)] = await until(api, "chat.postMessage", 1, channel=channel)
    await second.click(intro, "start")
    _, question = (await until(api, "chat.postMessage", 2, channel=channel))[-1]
    await first.click(question, ["deformity"])
    posted = await until(api, "chat.postMessage", 4, channel=channel)
    token, outcome = posted[2]
    return token, outcome["text"]


def left_in_store(store: str, team: str) -> list[str]:
    """Every row or key that still names the workspace: conversations, club, installation."""
    if store.startswith("sqlite"):
        with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
            rows = [k for (k,) in db.execute("SELECT key FROM conversations") if team in k]
            rows += [
                f"installation {t}"
                for (t,) in db.execute("SELECT team_id FROM slack_installations")
                if t == team
            ]
            rows += [f"bot {t}" for (t,) in db.execute("SELECT team_id FROM slack_bots") if t == team]
            return rows
    return [k for k in redis.Redis.from_url(store, decode_responses=True).scan_iter() if team in k]


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_two_clubs_install_set_their_own_emergency_number_and_one_uninstalls(
    backend: str, api: SlackApi, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        server.flush()
        store = server.url
    else:
        store = f"sqlite:///{tmp_path / 'kneebot.db'}"
    api_url = str(api.server.make_url("/api/"))  # type: ignore[union-attr]
    log = tmp_path / "workers.log"
    workers = [await start_worker(api_url, store, log) for _ in range(2)]
    one, two = (base for _, base in workers)
    try:
        # Each club installs through a different worker.
        assert (await install(one, A)).startswith("200"), "the success page"
        assert (await install(two, B)).startswith("200")
        assert [a["code"] for _, a in to(api, "oauth.v2.access")] == [f"code-{A}", f"code-{B}"]

        # Each club's /knee is answered with its own token, by the worker that did not install it.
        alpha, bravo = runner(two, api, "U0ALPHA", A), runner(one, api, "U0BRAVO", B)
        await alpha.command("")
        await bravo.command("")
        [(token_a, _)] = await until(api, "chat.postMessage", 1, channel="DU0ALPHA")
        [(token_b, _)] = await until(api, "chat.postMessage", 1, channel="DU0BRAVO")
        assert (token_a, token_b) == (installed_token(A), installed_token(B))

        # App Home: an admin sees Club settings, a runner does not.
        await event(
            runner(one, api, "UADMINA", A), {"type": "app_home_opened", "user": "UADMINA", "tab": "home"}
        )
        await event(
            runner(two, api, "U0ALPHA", A), {"type": "app_home_opened", "user": "U0ALPHA", "tab": "home"}
        )
        homes = {
            args["user_id"]: (token, json.dumps(args["view"]))
            for token, args in await until(api, "views.publish", 2)
        }
        assert homes["UADMINA"][0] == installed_token(A)
        assert "knee_club_open" in homes["UADMINA"][1]
        assert "knee_home_start" in homes["UADMINA"][1]
        assert "knee_club_open" not in homes["U0ALPHA"][1]
        assert "knee_home_start" in homes["U0ALPHA"][1]
        assert "/knee taper" in homes["U0ALPHA"][1]
        # The club's anonymous numbers are for its admins: a check has ended in neither club yet.
        assert "No knee checks counted yet" in homes["UADMINA"][1]
        assert "No knee checks counted yet" not in homes["U0ALPHA"][1]

        # The admin opens the form and saves 000 (after a wrong link and number are pointed out).
        admin = runner(two, api, "UADMINA", A)
        home = json.loads(homes["UADMINA"][1])
        button = next(e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
                      if e["action_id"] == "knee_club_open")  # fmt: skip
        click = {"type": "block_actions", "user": {"id": "UADMINA", "team_id": A}, "api_app_id": "A0KNEE",
                 "token": "legacy", "trigger_id": "trigger.home", "team": {"id": A, "domain": "a"},
                 "container": {"type": "view", "view_id": "VHOME"}, "view": {"id": "VHOME", "type": "home"},
                 "actions": [{**button, "block_id": "home_actions", "action_ts": "1.2"}]}  # fmt: skip
        await admin.post(urlencode({"payload": json.dumps(click)}), "application/x-www-form-urlencoded")
        [(token, opened)] = await until(api, "views.open", 1)
        assert token == installed_token(A)
        assert opened["trigger_id"] == "trigger.home"
        form = opened["view"]
        status, body = await submit(admin, form, {"emergency_number": "dial 000", "booking_link": "http://x"})
        assert status == 200
        errors = json.loads(body)
        assert errors["response_action"] == "errors"
        assert "digits only" in errors["errors"]["emergency_number"]
        assert "https://" in errors["errors"]["booking_link"]
        status, body = await submit(admin, form, {"emergency_number": "000", "unit": "km"})
        assert (status, body) == (200, ""), "saved: the form closes"
        # Another member of the club sends the same form (an old or forged one): refused.
        status, body = await submit(runner(one, api, "U0ALPHA", A), form, {"emergency_number": "999"})
        refused = json.loads(body)
        assert refused["response_action"] == "update"
        assert "Only the club's admins" in json.dumps(refused)

        # A's urgent outcome names 000; B's still names the default.
        token, text = await urgent_outcome(
            api, runner(one, api, "U0ALPHA2", A), runner(two, api, "U0ALPHA2", A)
        )
        assert token == installed_token(A)
        assert "Call 000 now" in text
        assert DEFAULT not in text
        token, text = await urgent_outcome(
            api, runner(two, api, "U0BRAVO2", B), runner(one, api, "U0BRAVO2", B)
        )
        assert token == installed_token(B)
        assert f"Call {DEFAULT} now" in text
        # A's admin now sees one urgent outcome this week, as `<5`, and no runner in it.
        await event(
            runner(one, api, "UADMINA", A), {"type": "app_home_opened", "user": "UADMINA", "tab": "home"}
        )
        stats = json.dumps((await until(api, "views.publish", 3))[-1][1]["view"])
        assert "Knee checks per week" in stats
        assert "&lt;5" in stats or "<5" in stats
        assert "U0ALPHA" not in stats
        # Lookups too: A's taper plan is in km now, B's still in miles.
        before = len(to(api, "response_url"))
        await runner(one, api, "U0ALPHA", A).command("taper 40 in 12 days")
        [(_, said_a)] = (await until(api, "response_url", before + 1))[before:]
        await runner(two, api, "U0BRAVO", B).command("taper 40 in 12 days")
        [(_, said_b)] = (await until(api, "response_url", before + 2))[before + 1 :]
        assert "from 40 km a week" in said_a["text"]
        assert "from 40 miles a week" in said_b["text"]
        audit = log.read_text()
        assert re.search(
            rf"club settings changed: club=slack:{A} by=slack:UADMINA at=\S+ fields=emergency_number,unit",
            audit,
        )

        # A uninstalls: its installation, club and conversations go; B carries on.
        assert left_in_store(store, A)
        api.revoked.add(installed_token(A))
        status, _ = await event(
            runner(one, api, "U0ALPHA", A), {"type": "app_uninstalled", "event_ts": "1.1"}
        )
        assert status == 200
        assert left_in_store(store, A) == []
        assert left_in_store(store, B), "the other club is untouched"
        before = len(to(api, "chat.postMessage"))
        answered = len(to(api, "response_url"))
        await runner(two, api, "U0ALPHA", A).command("")
        _, said = (await until(api, "response_url", answered + 1))[-1]
        assert "reinstall" in said["text"], "bolt says the app is no longer installed there"
        await bravo.command("")
        await until(api, "chat.postMessage", 2, channel="DU0BRAVO")
        assert [t for t, _ in to(api, "chat.postMessage")[before:]] == [installed_token(B)]
    finally:
        for process, _ in workers:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 15) == 0
    assert "Traceback" not in log.read_text()


async def test_slack_revoking_the_bot_token_forgets_the_club_and_a_user_token_does_not(
    api: SlackApi, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'kneebot.db'}"
    api_url = str(api.server.make_url("/api/"))  # type: ignore[union-attr]
    log = tmp_path / "worker.log"
    process, base = await start_worker(api_url, store, log)
    try:
        assert (await install(base, A)).startswith("200")
        alpha = runner(base, api, "U0ALPHA", A)
        await alpha.command("")  # a runner of the club starts a check
        [(_, intro)] = await until(api, "chat.postMessage", 1, channel="DU0ALPHA")
        await alpha.click(intro, "start")
        await until(api, "chat.postMessage", 2, channel="DU0ALPHA")
        kept = left_in_store(store, A)
        assert any(row.startswith(f"slack:{A}:") for row in kept), kept
        # A member's own OAuth token revoked: nothing of the bot's goes.
        status, _ = await event(
            runner(base, api, "U0ALPHA", A),
            {"type": "tokens_revoked", "tokens": {"oauth": ["U0ALPHA"]}, "event_ts": "1.1"},
        )
        assert status == 200
        await asyncio.sleep(0.3)
        assert left_in_store(store, A) == kept
        # The bot's token revoked: the installation, the club and its runners' conversations go.
        api.revoked.add(installed_token(A))
        status, _ = await event(
            runner(base, api, "U0ALPHA", A),
            {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}, "event_ts": "1.2"},
        )
        assert status == 200
        for _ in range(100):
            if not left_in_store(store, A):
                break
            await asyncio.sleep(0.05)
        assert left_in_store(store, A) == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    written = log.read_text()
    assert "Traceback" not in written
    assert "U0ALPHA" not in written, "no runner named in the log"
