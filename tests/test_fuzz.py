"""Stateful fuzzing of the conversations service: any sequence of events, however odd, keeps the
bot answering within every platform's limits, and a reported red flag never ends in self-care."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapters import discord as discord_adapter
from adapters import slack as slack_adapter
from bot.content import ContentSource
from bot.contract import FACTS
from bot.conversations import Conversations
from bot.model import ConversationKey, Event, Reply
from bot.stores import open_store
from tests.conftest import CONSTANTS, NOW
from tests.discord_double import check_discord_limits
from tests.slack_double import check_block_kit

FLAGS = [v for v in FACTS["red_flags"].values if v not in ("none", "unsure")]
VALUES = sorted({v for contract in FACTS.values() for v in contract.values} | {"start", "resume", "nonsense"})
WORDS = [
    "yes", "no", "not sure", "none", "3 weeks", "6/10", "locked", "gradually", "I fell", "restart",
    "forget", "start", "carry on", "?taper 40", "{{ 7*7 }}", "<!channel>", "@everyone", "1, 3", "99999",
]  # fmt: skip
TEXT = st.one_of(st.sampled_from(WORDS), st.text(max_size=200), st.text(min_size=5000, max_size=10_000))
VALUE = st.one_of(
    st.sampled_from(VALUES),
    st.lists(st.sampled_from(VALUES), max_size=4).map(tuple),
    st.integers(-10, 10_000),
    st.floats(allow_nan=True, allow_infinity=True),
)


class Conversation(RuleBasedStateMachine):
    """One runner doing anything at all, through the real service on a memory store."""

    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = open_store("memory://")
        self.service = Conversations(ContentSource(None, CONSTANTS), self.store, timedelta(hours=24))
        self.key = ConversationKey("fuzz", "T", "U")
        self.count = 0
        self.last: Event | None = None
        self.flagged = False
        self.replies: list[Reply] = []

    def teardown(self) -> None:
        self.loop.close()

    def send(self, event: Event) -> None:
        self.last = event
        self.replies = self.loop.run_until_complete(self.service.handle(self.key, event))
        stored = self.loop.run_until_complete(self.store.get(str(self.key)))
        facts = json.loads(stored.data).get("facts", {}) if stored else {}
        self.flagged = any(flag in facts.get("red_flags", []) for flag in FLAGS)

    def event(self, kind: str, **fields: Any) -> Event:
        self.count += 1
        return Event(kind, NOW, id=f"e{self.count}", **fields)  # type: ignore[arg-type]

    @rule(text=TEXT)
    def type_text(self, text: str) -> None:
        self.send(self.event("text", text=text))

    @rule(value=VALUE, fact=st.one_of(st.none(), st.sampled_from(list(FACTS))))
    def pick(self, value: Any, fact: str | None) -> None:
        self.send(self.event("answer", value=value, fact=fact))

    @rule(flags=st.lists(st.sampled_from(FLAGS), min_size=1, max_size=3, unique=True))
    def report_red_flags(self, flags: list[str]) -> None:
        self.send(self.event("answer", value=tuple(flags)))

    @rule(kind=st.sampled_from(["start", "restart", "forget", "unreadable"]))
    def command(self, kind: str) -> None:
        self.send(self.event(kind))

    @rule()
    def repeat_the_last_event(self) -> None:
        if self.last is not None:
            self.send(self.last)
            assert self.replies == [], "a repeated event id is dropped"

    @rule(asking=st.sampled_from(["onset", "removed_fact", "", "red_flags"]))
    def stored_by_older_content(self, asking: str) -> None:
        stored = self.loop.run_until_complete(self.store.get(str(self.key)))
        if stored is None:
            return
        data = {**json.loads(stored.data), "asking": asking or None, "content": "old"}
        self.loop.run_until_complete(
            self.store.compare_and_set(str(self.key), stored.version, json.dumps(data), 3600)
        )

    @invariant()
    def answers_sensibly(self) -> None:
        for reply in getattr(self, "replies", []):
            assert not reply.text.startswith("Sorry, something went wrong"), "an internal error"
            for text, blocks in slack_adapter.render(reply):
                check_block_kit({"text": text, "blocks": blocks})
            for message in discord_adapter.render(reply):
                payload: dict[str, Any] = {
                    "content": message.get("content"),
                    "allowed_mentions": {"parse": []},
                }
                if "embeds" in message:
                    payload["embeds"] = [embed.to_dict() for embed in message["embeds"]]
                if "view" in message:
                    payload["components"] = message["view"].to_components()
                check_discord_limits(payload)
            if reply.outcome is not None and self.flagged:
                assert reply.outcome.level != "self_care", "a red flag told to self-treat"


Conversation.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
)
TestConversation = Conversation.TestCase
