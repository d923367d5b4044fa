"""The triage engine: a pure step from (state, event) to (state, replies).

No I/O, no clock (time arrives with the event), no randomness. The flow is content: the next
question is the first step of the flow whose fact is still unknown and whose condition holds.
After every answer the urgent rules are checked, and the first that fires ends the triage at
once; when no question is left, the rules are read in order and the first that matches decides.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from bot.content import CommandName, Content, Rule
from bot.contract import FACTS
from bot.expressions import UNKNOWN, Special
from bot.lookup import lookup
from bot.model import Choice, Event, FactValue, Outcome, Question, Reply, State
from bot.understand import Misunderstood, normalise, understand

__all__ = ["Step", "advance", "context", "decide", "display", "outcome", "render_message", "step"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    state: State | None
    """The state to keep; None means the conversation is to be deleted (or never existed)."""
    replies: tuple[Reply, ...]
    changed: bool = True
    tally: tuple[str, ...] = ()
    """What the club's anonymous numbers count for this step: an outcome's level, `helpful`."""


def step(content: Content, state: State | None, event: Event) -> Step:
    """Apply one event to a conversation."""
    from bot import after

    if state is not None and state.finished and state.after and event.kind in ("text", "answer"):
        taken = after.answer(content, state, event)  # the question after an outcome, if answered
        if taken is not None:
            return taken
    command: str = event.kind
    if command == "text" and event.text is not None:
        waiting = state is None or state.finished or state.paused
        paused = state is not None and state.paused and not state.finished
        command = _command(content, event.text, waiting, paused) or command
    if command == "data":
        # The question still waiting is asked again after the list.
        asked = [_reask(content, state)] if state is not None and not state.finished else []
        return Step(state, (after.mydata(content, state, event), *asked), changed=False)
    if command == "check_in":
        return after.deliver(content, state, event)
    if command == "forget":
        # Always a change: even with no conversation left, event ids may still name the runner.
        return Step(None, (_start_prompt(content, _render(content, "forgotten")),))
    if command == "restart":
        return _begin(content, event, _render(content, "restarted"))
    if command == "back":
        if event.fact is not None and state is not None and event.fact != state.asking:
            # The Back button of a question already moved past: nothing to take back there.
            return Step(state, (_reask(content, state, _render(content, "stale_answer")),), changed=False)
        return _back(content, state)
    if command == "start" and event.kind == "start":
        if after.due_now(state, event.at):
            return after.deliver(content, state, event)  # a check-in that fell due comes first
        return _opening(content, state)
    if command == "lookup":
        topic, _, args = (event.text or "").strip().partition(" ")
        found = lookup(content, topic, args, now=event.at, command="?")
        # The conversation waits where it was: ask its question again after the answer.
        return Step(state, (found, _reask(content, state)), changed=False)
    if command == "unreadable":
        return Step(state, (_reask(content, state, _render(content, "unreadable")),), changed=False)

    if state is None or state.finished:
        if command == "start" or event.value == "start":
            return _accepted(_begin(content, event))
        if state is None and event.kind == "answer" and (event.fact or event.value == "resume"):
            # A click on a question whose conversation has expired or was forgotten.
            return Step(None, (_start_prompt(content, _render(content, "expired")),), changed=False)
        text = _render(content, "finished") if state else ""
        return Step(state, (_intro(content, text),), changed=False)

    if command == "resume" or (event.value == "resume" and state.paused):
        return _accepted(Step(state.model_copy(update={"paused": False}), (_reask(content, state),)))
    if command == "start" or event.value == "start":
        return _accepted(_begin(content, event))
    return _answer(content, state, event)


def _accepted(result: Step) -> Step:
    """Mark the turn as following an accepted answer, so adapters can settle the question."""
    first, *rest = result.replies
    return replace(result, replies=(replace(first, accepted=True), *rest))


def _command(content: Content, text: str, waiting: bool, paused: bool) -> str | None:
    """The command a text means, if any.

    `restart`, `forget` and `back` must be said on their own, anywhere. Starting and resuming only
    apply while no question is waiting (`yes` starts a check from the intro, but mid-triage it
    is an answer), and there a sentence that contains the words is enough (`ok, let's go`).
    """
    said = normalise(text)
    prompt: tuple[CommandName, ...] = ("resume", "start") if paused else ("start",)
    if waiting and said.isdigit() and 1 <= int(said) <= len(prompt):
        return prompt[int(said) - 1]  # a pick by number from the bot's own prompt
    commands = content.language.commands
    names: tuple[CommandName, ...] = ("forget", "restart", "back", "data", "resume", "start")
    for command in names:
        if said in _phrases(commands.get(command, ())) and (
            waiting or command in ("forget", "restart", "back", "data")
        ):
            return command
    if waiting:
        for command in names[4:]:
            if any(
                re.search(rf"(?<![\w']){re.escape(p)}(?![\w'])", said)
                for p in _phrases(commands.get(command, ()))
            ):
                return command
    return None


@lru_cache(maxsize=64)
def _phrases(phrases: tuple[str, ...]) -> frozenset[str]:
    return frozenset(filter(None, map(normalise, phrases)))


def _opening(content: Content, state: State | None) -> Step:
    if state is None or state.finished:
        return Step(state, (_intro(content),), changed=False)
    choices = (
        Choice("resume", content.messages.resume_label),
        Choice("start", content.messages.start_over_label),
    )
    reply = Reply(_render(content, "resume"), Question(None, "single", choices))
    return Step(state.model_copy(update={"paused": True}), (reply,))


def _intro(content: Content, before: str = "") -> Reply:
    return _start_prompt(content, "\n\n".join(part for part in (before, _render(content, "intro")) if part))


def _start_prompt(content: Content, text: str) -> Reply:
    return Reply(text, Question(None, "single", (Choice("start", content.messages.start_label),)))


def _begin(content: Content, event: Event, before: str = "") -> Step:
    at = event.at.timestamp()
    fresh = State(content=content.version, started=at, updated=at)
    return _advance(content, fresh, before)


def _answer(content: Content, state: State, event: Event) -> Step:
    fact = state.asking
    if fact is None or fact not in content.facts:
        # The content changed under a conversation: pick up from the facts it has.
        return _advance(content, state.model_copy(update={"content": content.version}), "")
    if event.fact is not None and event.fact != fact:
        return Step(state, (_reask(content, state, _render(content, "stale_answer")),), changed=False)
    waiting = state.pending
    if waiting is not None:
        confirmed = _confirmation(content, event)
        if confirmed is True:
            return _take(content, state, fact, waiting, "", event)
        state = state.model_copy(update={"pending": None})
        if confirmed is False:
            return Step(state, (_reask(content, state, _render(content, "took_back")),))
    spec = content.facts[fact]
    result = understand(
        spec,
        FACTS[fact],
        content.language,
        value=event.value,
        text=event.text,
        now=event.at,
        unit=str(content.constants.get("unit", "miles")),
    )
    if isinstance(result, Misunderstood):
        if result.reason == "out_of_range":
            contract = FACTS[fact]
            why = _render(content, "out_of_range", low=_num(contract.low), high=_num(contract.high))
        else:
            why = _render(content, f"not_understood:{spec.kind}")
        hint = _render(content, f"hint:{fact}")
        updated = state.model_copy(update={"paused": False})
        return Step(updated, (_reask(content, updated, f"{why} {hint}"),), changed=state.paused)
    if result.confirm and result.value != waiting:  # the same reading said twice is confirmed
        checking = state.model_copy(update={"pending": result.value, "paused": False})
        return Step(checking, (_confirm(content, checking),))
    said = ""
    if result.from_text:
        facts = {**state.facts, fact: result.value}
        said = _render(content, "understood", answer=_display(content, fact, result.value, facts))
    return _take(content, state, fact, result.value, said, event)


def _take(content: Content, state: State, fact: str, value: FactValue, said: str, event: Event) -> Step:
    """Keep an answer and move on."""
    facts = {**state.facts, fact: value}
    update = {"facts": facts, "paused": False, "pending": None, "updated": event.at.timestamp()}
    updated = state.model_copy(update=update)
    return _accepted(_advance(content, updated, said))


def _confirmation(content: Content, event: Event) -> bool | None:
    """A yes or no to `I read that as X - right?`; None when the runner answered afresh."""
    if event.value in ("yes", "no"):
        return event.value == "yes"
    said = normalise(event.text or "")
    language = content.language
    if said in _phrases(language.yes):
        return True
    if said in _phrases(language.no):
        return False
    return None


def _confirm(content: Content, state: State) -> Reply:
    assert state.asking is not None
    assert state.pending is not None
    shown = _display(content, state.asking, state.pending, state.facts)
    choices = (
        Choice("yes", content.messages.confirm_yes_label),
        Choice("no", content.messages.confirm_no_label),
    )
    controls = _controls(content, state)
    return Reply(
        _render(content, "confirm", answer=shown), Question(state.asking, "single", choices, controls)
    )


def _back(content: Content, state: State | None) -> Step:
    """Take back the last answer (or an unconfirmed reading) and ask that question again."""
    if state is None or (not state.facts and state.pending is None):
        return Step(state, (_reask(content, state, _render(content, "nothing_to_take_back")),), changed=False)
    facts = dict(state.facts)
    if state.pending is None:
        facts.pop(next(reversed(facts)))
    updated = state.model_copy(update={"facts": facts, "pending": None, "rule": None, "paused": False})
    return _advance(content, updated, _render(content, "took_back"))


def _controls(content: Content, state: State) -> tuple[tuple[str, str], ...]:
    controls = content.messages.controls
    back = bool(state.facts) or state.pending is not None
    return tuple((name, text) for name, text in controls.items() if name != "back" or back)


def advance(content: Content, state: State, before: str) -> Step:
    """Ask the next question, or give the outcome (and what follows it) when none is left."""
    return _advance(content, state, before)


def _advance(content: Content, state: State, before: str) -> Step:
    from bot import after

    context = _context(content, state.facts)
    for rule in content.rules:
        if rule.level == "urgent" and _holds(rule, context):
            return after.conclude(content, _finish(content, state, rule, context, before))
    for item in content.steps:
        if item.ask in state.facts:
            continue
        if item.when is None or item.when(context):
            asked = state.model_copy(update={"asking": item.ask, "content": content.version})
            return Step(asked, (_question(content, item.ask, context, before, _controls(content, asked)),))
    rule = after.at_least(content, state, decide(content, state.facts))
    return after.conclude(content, _finish(content, state, rule, context, before))


def _holds(rule: Rule, context: Mapping[str, Any]) -> bool:
    try:
        return rule.when(context)
    except Exception:
        # A rule that cannot be read is treated as firing: when unsure, escalate.
        _log.exception("rule %s could not be evaluated; treating it as matched", rule.id)
        return rule.level != "self_care"


def decide(content: Content, facts: Mapping[str, FactValue]) -> Rule:
    """The first rule that matches these facts."""
    context = _context(content, facts)
    for rule in content.rules:
        if _holds(rule, context):
            return rule
    return content.rules[-1]


def _finish(content: Content, state: State, rule: Rule, context: dict[str, Any], before: str) -> Step:
    """The outcome, as a runner reads it in a DM, then the answers summary as its own message.

    The advice that applies is ranked by priority: the first few are shown in full, the rest named
    as topics to look up; the outcome's `advice` lists every one.
    """
    done = state.model_copy(update={"asking": None, "rule": rule.id, "paused": False})
    context = {**context, "level": rule.level, "rule": rule.id}
    chosen: list[tuple[str, str, str | None]] = []
    if rule.level != "urgent":  # urgent care gets no exercise or training advice, whatever content says
        ranked = sorted((item for item in content.advice if item.when(context)), key=lambda a: -a.priority)
        chosen = [(item.title(context).strip(), item.text(context).strip(), item.topic) for item in ranked]
    shown = chosen[: content.advice_shown]
    more = list(dict.fromkeys(f"`{topic}`" for _, _, topic in chosen[content.advice_shown :] if topic))
    advice = tuple(f"**{title}:** {text}" for title, text, _ in chosen)
    summary = tuple(
        (content.facts[item.ask].summary, _display(content, item.ask, state.facts[item.ask], state.facts))
        for item in content.steps
        if item.ask in state.facts
    )
    parts = {part: content.templates[f"level:{rule.level}:{part}"](context) for part in ("headline", "body")}
    layout = {
        **context,
        **parts,
        "reason": rule.reason(context),
        "advice": advice[: len(shown)],
        "more": more,
        "more_line": content.templates["more"]({**context, "more": more}) if more else "",
        "professional": content.templates["professional"](context),
        "go_today": content.templates["go_today"](context).strip(),
        "disclaimer": content.templates["disclaimer"](context),
        "summary_title": content.templates["summary_title"](context),
        "summary": summary,
    }
    text = content.templates["layout"](layout)
    if before:
        text = f"{before}\n\n{text}"
    _log.info("triage outcome level=%s rule=%s", rule.level, rule.id)
    outcome = Outcome(rule.level, rule.id, advice, text, summary)
    replies = [Reply(text, outcome=outcome)]
    if summary:
        replies.append(Reply(content.templates["answers"](layout)))
    return Step(done, tuple(replies))


def outcome(content: Content, facts: Mapping[str, FactValue]) -> tuple[Reply, ...]:
    """The outcome replies for a finished set of facts, as the triage would end with them."""
    state = State(facts=dict(facts), content=content.version)
    return _finish(content, state, decide(content, facts), _context(content, facts), "").replies


def context(content: Content, facts: Mapping[str, FactValue]) -> dict[str, Any]:
    """What conditions and templates see: the settings and every fact (unknown ones as such)."""
    return _context(content, facts)


def _context(content: Content, facts: Mapping[str, FactValue]) -> dict[str, Any]:
    context: dict[str, Any] = dict(content.constants)
    for name, contract in FACTS.items():
        value: Any = facts.get(name, UNKNOWN)
        if contract.kind == "number" and isinstance(value, str):
            value = Special(value)
        context[name] = value
    return context


def _question(
    content: Content,
    fact: str,
    context: Mapping[str, Any],
    before: str = "",
    controls: tuple[tuple[str, str], ...] = (),
) -> Reply:
    spec = content.facts[fact]
    text = content.templates[f"question:{fact}"](context)
    choices = tuple(Choice(choice.value, choice.label) for choice in spec.choices)
    return Reply(f"{before}\n\n{text}" if before else text, Question(fact, spec.kind, choices, controls))


def _reask(content: Content, state: State | None, before: str = "") -> Reply:
    if state is None or state.asking is None or state.asking not in content.facts:
        return _intro(content, before)
    if state.pending is not None:
        confirm = _confirm(content, state)
        return replace(confirm, text=f"{before}\n\n{confirm.text}" if before else confirm.text)
    context = _context(content, state.facts)
    return _question(content, state.asking, context, before, _controls(content, state))


def display(content: Content, fact: str, value: FactValue, facts: Mapping[str, FactValue]) -> str:
    """An answer as the summary shows it."""
    return _display(content, fact, value, facts)


def _display(content: Content, fact: str, value: FactValue, facts: Mapping[str, FactValue]) -> str:
    spec = content.facts[fact]
    labels = {choice.value: choice.label for choice in spec.choices}
    if isinstance(value, list):
        return "; ".join(labels.get(v, v) for v in value)
    if isinstance(value, str):
        return labels.get(value, value)
    context = {**_context(content, facts), "value": value}
    return content.templates[f"display:{fact}"](context)


def render_message(content: Content, name: str, **extra: Any) -> str:
    """A message from messages.yaml that needs no facts (`error`, `goodbye`, `help`)."""
    return _render(content, name, **extra)


def _render(content: Content, name: str, **extra: Any) -> str:
    return content.templates[name]({**content.constants, **dict.fromkeys(FACTS, UNKNOWN), **extra})


def _num(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)
