"""The Slack app end to end: signed HTTP requests into the real bolt app, a recording Slack API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from adapters.slack import build_app, mrkdwn, render
from bot import engine
from bot.content import Content, ContentSource
from bot.conversations import Conversations
from bot.model import Choice, Event, Question, Reply
from bot.stores import open_store
from tests.conftest import CONSTANTS, NOW
from tests.slack_double import BACK, SECRET, SlackApi, SlackClient, check_block_kit


@dataclass
class Slack:
    api: SlackApi
    runner: SlackClient

    def posts(self) -> list[dict[str, Any]]:
        return self.api.made("chat.postMessage")

    def last(self) -> dict[str, Any]:
        return self.posts()[-1]


@pytest.fixture
async def slack(content: Content) -> AsyncIterator[Slack]:
    api = SlackApi()
    api_url = await api.start()
    service = Conversations(ContentSource(None, CONSTANTS), open_store("memory://"), timedelta(hours=24))
    app = build_app(service, token="xoxb-test", signing_secret=SECRET, api_url=api_url)
    server = TestServer(app.web_app(path="/slack/events"))
    await server.start_server()
    try:
        yield Slack(api, SlackClient(str(server.make_url("/slack/events")), api))
    finally:
        await server.close()
        await api.stop()
        for call in api.calls:
            if call.method in ("chat.postMessage", "chat.update"):
                check_block_kit(call.args)


async def test_knee_in_a_channel_answers_ephemerally_and_opens_the_dm(slack: Slack) -> None:
    status, body = await slack.runner.command("")
    assert status == 200
    ack = json.loads(body)
    assert ack["response_type"] == "ephemeral"
    assert "direct message" in ack["text"]
    [intro] = await slack.api.wait_for("chat.postMessage", 1)
    assert [c["users"] for c in slack.api.made("conversations.open")] == ["U0RUNNER"]
    assert intro["channel"] == "DU0RUNNER"
    assert "automated assistant" in intro["text"]
    buttons = [e for b in intro["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [json.loads(b["value"])["v"] for b in buttons] == ["start"]


async def ask(slack: Slack, count: int) -> dict[str, Any]:
    await slack.api.wait_for("chat.postMessage", count)
    await slack.api.settle()
    return slack.last()


ANSWERS: dict[str, Any] = {
    "red_flags": ["none"],
    "onset": "gradual",
    "days_since_onset": "3 weeks",
    "age": "17_to_54",
    "symptoms": ["none"],
    "pain_severity": "6",
    "improving": "no",
    "pain_location": "front",
    "training_changes": ["more_miles", "hills"],
    "surface": ["road", "trail"],
    "shoe_miles": "not sure",
    "days_to_race": "12",
    "race_distance": "half",
    "weekly_miles": "40",
}


def fact_of(message: dict[str, Any]) -> str | None:
    for block in message["blocks"]:
        if block["type"] == "actions":
            for element in block["elements"]:
                if element.get("type") == "button" and element["action_id"].startswith("knee_pick"):
                    return json.loads(element["value"])["f"]
                if element["action_id"] == "knee_done":
                    return element["value"]
    return None


async def test_a_whole_triage_by_clicks_and_typed_replies(slack: Slack, content: Content) -> None:
    await slack.runner.command("check")
    await slack.runner.click(await ask(slack, 1), "start")
    for posted, (fact, answer) in enumerate(ANSWERS.items(), start=2):
        message = await ask(slack, posted)
        assert content.facts[fact].question.split("{{")[0][:25] in message["text"], (fact, message["text"])
        if content.facts[fact].kind == "number":
            assert "Type your answer" in json.dumps(message["blocks"])
            await slack.runner.dm(answer)
        else:
            assert fact_of(message) == fact
            await slack.runner.click(message, answer)
    summary = await ask(slack, len(ANSWERS) + 3)
    assert summary["text"].startswith("*Your answers*"), "the answers follow as their own message"
    outcome = slack.api.made("chat.postMessage")[-2]
    # The same answers through the engine alone, as the terminal runs them.
    assert outcome["text"] == mrkdwn(terminal_outcome(content, ANSWERS))
    assert "*Book a physio, sports doctor or GP in the next few days.*" in outcome["text"]
    # Clicked questions were edited in place to show the answer.
    updates = json.dumps(slack.api.made("chat.update"), ensure_ascii=False)
    assert "✅ Gradually, building up over runs" in updates
    assert "✅ More miles, or one run much longer than usual, More hills" in updates


def terminal_outcome(content: Content, answers: dict[str, Any]) -> str:
    state = engine.step(content, None, Event("answer", NOW, value="start")).state
    while state is not None and not state.finished:
        answer = answers[state.asking or ""]
        event = (
            Event("answer", NOW, value=tuple(answer) if isinstance(answer, list) else answer)
            if isinstance(answer, list)
            or answer in [c.value for c in content.facts[state.asking or ""].choices]
            else Event("text", NOW, text=answer)
        )
        result = engine.step(content, state, event)
        state = result.state
    [outcome] = [reply for reply in result.replies if reply.outcome is not None]
    return outcome.text


async def test_a_retried_event_changes_nothing(slack: Slack) -> None:
    await slack.runner.command("")
    await slack.runner.click(await ask(slack, 1), "start")
    await ask(slack, 2)
    assert (await slack.runner.dm("none of these", event_id="Ev0RETRY"))[0] == 200
    await ask(slack, 3)
    status, _ = await slack.runner.dm("none of these", event_id="Ev0RETRY", retry=1)
    assert status == 200
    await slack.api.settle()
    assert len(slack.posts()) == 3, "the retry sent nothing"


async def test_a_retry_whose_first_delivery_was_lost_is_served(slack: Slack) -> None:
    await slack.runner.command("")
    await slack.runner.click(await ask(slack, 1), "start")
    await ask(slack, 2)
    await slack.runner.dm("none of these", event_id="Ev0LOST", retry=2)
    message = await ask(slack, 3)
    assert "How did the pain start?" in message["text"]


@pytest.mark.parametrize(
    "sign_args",
    [{"secret": "not-the-secret"}, {"timestamp": int(time.time()) - 6 * 60}],
    ids=["forged", "stale"],
)
async def test_forged_and_stale_requests_are_refused(slack: Slack, sign_args: dict[str, Any]) -> None:
    status, _ = await slack.runner.command("", **sign_args)
    assert status == 401
    await slack.api.settle()
    assert slack.posts() == []


async def test_mentions_typed_by_a_runner_never_ping(slack: Slack) -> None:
    status, body = await slack.runner.command("<!channel> @everyone <@U0BOSS>")
    assert status == 200
    assert "<!channel>" not in body
    assert "<@U0BOSS>" not in body
    await slack.runner.command("")
    await slack.runner.click(await ask(slack, 1), "start")
    await ask(slack, 2)
    await slack.runner.dm("<!channel> <!here> <@U0BOSS> <https://evil.example|click>")
    await ask(slack, 3)
    sent = json.dumps([call.args for call in slack.api.calls])
    for marker in ("<!channel>", "<!here>", "<@U0BOSS>", "<https://evil"):
        assert marker not in sent


async def test_help_forget_and_lookup_routing(slack: Slack) -> None:
    # Acked at once, before the store is read for the club's words; answered privately after.
    for typed, expected in (
        ("help", "/knee check"),
        ("warmup", "*Warm-ups*"),
        ("taper 40 in 12 days", "Race week"),
        ("banana", "`taper`"),  # an unknown topic lists the topics
    ):
        before = len(slack.api.made("response_url"))
        assert await slack.runner.command(typed) == (200, ""), typed
        said = (await slack.api.wait_for("response_url", before + 1))[-1]
        assert said["response_type"] == "ephemeral"
        assert expected in said["text"], typed
    await slack.runner.command("")
    await slack.runner.click(await ask(slack, 1), "start")
    await ask(slack, 2)
    status, body = await slack.runner.command("forget")
    assert (status, body) == (200, ""), "forget acks at once, before touching the store"
    said = (await slack.api.wait_for("response_url", 5))[-1]
    assert "deleted everything" in said["text"]
    await slack.runner.command("")
    intro = await ask(slack, 3)
    assert [
        json.loads(e["value"])["v"] for b in intro["blocks"] if b["type"] == "actions" for e in b["elements"]
    ] == ["start"], "nothing to resume after forget"


async def test_mydata_answers_privately_with_what_is_kept(slack: Slack) -> None:
    await slack.runner.command("")
    await slack.runner.click(await ask(slack, 1), "start")
    await slack.runner.click(await ask(slack, 2), ["none"])
    await ask(slack, 3)
    status, body = await slack.runner.command("mydata")
    assert (status, body) == (200, ""), "acks at once, before touching the store"
    [said] = await slack.api.wait_for("response_url", 1)
    assert said["response_type"] == "ephemeral"
    assert "• Warning signs: None of these" in said["text"]
    assert "Everything is deleted on *" in said["text"]


def test_render_keeps_within_block_kit_limits() -> None:
    huge = "\n\n".join(f"**Part {i}** " + "word " * 1200 for i in range(80))
    choices = tuple(Choice(f"v{i}", "label " * 30) for i in range(30))
    for kind in ("single", "multi", "number"):
        messages = render(Reply(huge, Question("symptoms", kind, choices)))  # type: ignore[arg-type]
        for text, blocks in messages:
            check_block_kit({"text": text, "blocks": blocks})
        sections = [b["text"]["text"] for _, blocks in messages for b in blocks if b["type"] == "section"]
        assert re.sub(r"\s", "", "".join(sections)) == re.sub(r"\s", "", mrkdwn(huge)), "nothing is lost"
        assert any(b["type"] == "actions" for b in messages[-1][1]), "the controls come last"
    assert render(Reply("Short."))[0][0] == "Short."


async def test_the_slack_double_refuses_block_kit_that_slack_sdk_would_not_build() -> None:
    """Every payload posted in these tests is checked with slack_sdk's models; one bad block fails."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    api = SlackApi()
    client = AsyncWebClient(token="xoxb-test", base_url=await api.start())
    good = render(Reply("Fine.", Question("onset", "single", (Choice("injury", "A fall"),))))[0][1]
    await client.chat_postMessage(channel="D1", text="fine", blocks=good)
    long_label = {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}, "action_id": "a"}
    misspelt = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}, "blockid": "b"}
    for bad in ({"type": "actions", "elements": [long_label]}, misspelt, {"type": "sektion"}):
        with pytest.raises(SlackApiError, match="invalid_blocks"):
            await client.chat_postMessage(channel="D1", text="bad", blocks=[bad])
    assert len(api.malformed) == 3
    with pytest.raises(AssertionError, match="malformed Block Kit"):
        await api.stop()


def test_mrkdwn_escapes_then_formats() -> None:
    assert mrkdwn("**Go** to [the club](https://club.example) & <!channel>") == (
        "*Go* to <https://club.example|the club> &amp; &lt;!channel&gt;"
    )
    assert mrkdwn("- one\n- two") == "• one\n• two"


def test_the_manifest_asks_for_what_the_app_uses_and_nothing_more() -> None:
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parent.parent / "adapters" / "slack_manifest.yaml").read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/knee"]
    scopes = sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == ["chat:write", "commands", "im:history", "im:write", "users:read"]
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened", "message.im"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_the_hosted_manifest_asks_for_what_the_install_flow_uses() -> None:
    from pathlib import Path

    import yaml

    from adapters.slack_install import SCOPES

    manifest = yaml.safe_load(
        (Path(__file__).parent.parent / "adapters" / "slack_manifest_hosted.yaml").read_text()
    )
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(SCOPES)
    assert manifest["oauth_config"]["redirect_urls"] == ["https://your-host/slack/oauth_redirect"]
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened", "app_uninstalled", "message.im", "tokens_revoked"]
    assert events["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    assert manifest["settings"]["socket_mode_enabled"] is False


async def test_slack_uses_the_users_locale_and_keeps_it(slack: Slack) -> None:
    slack.runner.user = "U0RUNNERES"  # the Slack double gives this user es-ES
    await slack.runner.command("")
    intro = await ask(slack, 1)
    assert intro["text"].startswith("Hola, soy *kneebot*")
    await slack.runner.click(intro, "start")
    await ask(slack, 2)
    await slack.runner.dm("ninguna")
    assert (await ask(slack, 3))["text"].startswith("Entendido: Ninguna de estas.")


async def test_oversized_and_replayed_requests(slack: Slack) -> None:
    huge = "text=" + "x" * 2_000_000
    status, _ = await slack.runner.post(huge, "application/x-www-form-urlencoded")
    assert status == 413, "an oversized request is refused by size, not parsed"
    await slack.runner.command("")
    await ask(slack, 1)
    # The very same signed command delivered again (same trigger id): no second DM message.
    assert len(slack.api.made("conversations.open")) == 1
    slack.runner.counter = iter([1])  # type: ignore[assignment]
    status, _ = await slack.runner.command("")
    assert status == 200
    await slack.api.settle()
    assert len(slack.posts()) == 1, "a replayed command starts nothing twice"


async def test_back_takes_the_last_answer_back(slack: Slack) -> None:
    await slack.runner.command("check")
    await slack.runner.click(await ask(slack, 1), "start")
    first = await ask(slack, 2)
    assert fact_of(first) == "red_flags"
    assert "knee_back" not in json.dumps(first["blocks"]), "nothing to take back yet"
    await slack.runner.click(first, ["none"])
    onset = await ask(slack, 3)
    await slack.runner.click(onset, "injury")
    when = await ask(slack, 4)
    back = [
        e
        for b in when["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "knee_back"
    ]
    assert [b["text"]["text"] for b in back] == ["Back"]
    assert [b["value"] for b in back] == ["days_since_onset"]
    await slack.runner.click(when, BACK)
    again = await ask(slack, 5)
    assert fact_of(again) == "onset"
    assert again["text"].startswith("Okay, let's take that one again.")
    await slack.runner.click(again, "gradual")
    assert "When did it start?" in (await ask(slack, 6))["text"]
