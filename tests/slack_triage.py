"""A whole triage driven through any Slack transport: the slash command, clicks, checkboxes and
typed DM answers, ending at the outcome the engine gives alone."""

from __future__ import annotations

import json
from typing import Any, Protocol

from bot.content import Content
from tests.slack_double import SlackApi, check_block_kit


class AnyRunner(Protocol):
    api: SlackApi

    async def command(self, text: str = ..., channel: str = ...) -> Any: ...
    async def dm(self, text: str) -> Any: ...
    async def click(self, message: dict[str, Any], value: str | list[str]) -> Any: ...


async def asked(api: SlackApi, count: int) -> dict[str, Any]:
    """The last message once `count` have been posted and the app has gone quiet."""
    await api.wait_for("chat.postMessage", count, timeout=10)
    await api.settle()
    return api.made("chat.postMessage")[-1]


async def whole_triage(runner: AnyRunner, content: Content, answers: dict[str, Any]) -> dict[str, Any]:
    """/knee, Start, then every question answered by click, checkboxes and Done, or a typed DM;
    returns the outcome message as posted."""
    from tests.test_slack import fact_of

    api = runner.api
    already = len(api.made("chat.postMessage"))
    await runner.command("check")
    await runner.click(await asked(api, already + 1), "start")
    for posted, (fact, answer) in enumerate(answers.items(), start=already + 2):
        message = await asked(api, posted)
        assert content.facts[fact].question.split("{{")[0][:25] in message["text"], (fact, message["text"])
        if content.facts[fact].kind == "number":
            await runner.dm(answer)
        else:
            assert fact_of(message) == fact
            await runner.click(message, answer)
    # The outcome, then the answers summary as its own message.
    summary = await asked(api, already + len(answers) + 3)
    assert summary["text"].startswith("*Your answers*"), summary["text"]
    outcome = api.made("chat.postMessage")[-2]
    for call in api.calls:
        if call.method in ("chat.postMessage", "chat.update"):
            check_block_kit(call.args)
    return outcome


def typed(answers: dict[str, Any], content: Content) -> list[str]:
    """The answers a runner typed (number questions), for looking for them in logs."""
    return [str(a) for f, a in answers.items() if content.facts[f].kind == "number"]


def posted_texts(api: SlackApi) -> list[str]:
    return [json.dumps(c, ensure_ascii=False) for c in api.made("chat.postMessage")]
