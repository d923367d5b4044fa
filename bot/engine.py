"""The triage engine: a pure step from (state, event) to (state, replies).

No I/O, no clock (time arrives with the event), no randomness. The flow is content: the next
question is the first step of the flow whose fact is still unknown and whose condition holds.
After every answer the urgent rules are checked, and the first that fires ends the triage at
once; when no question is left, the rules are read in order and the first that matches decides.

What each turn needs from a content (the context every fact starts from, which urgent rules name
which fact, the choices of each question) is worked out once per `Content` object and kept on it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, NamedTuple

from jinja2 import TemplateSyntaxError

from bot.content import FACT_NAMES, Advice, CommandName, Content, Rule
from bot.contract import FACTS
from bot.expressions import (
    UNKNOWN,
    Condition,
    FactCondition,
    Special,
    Template,
    compile_fact_condition,
    names_in,
)
from bot.lookup import lookup
from bot.model import Choice, Event, FactValue, Outcome, Question, Reply, State
from bot.understand import Misunderstood, names_option, normalise, understand, understand_value

__all__ = ["Step", "advance", "context", "decide", "display", "outcome", "render_message", "step"]

_log = logging.getLogger(__name__)
_STARTS = ("start", "resume")
"""Values that start or resume a check rather than answer its question."""
_BLANK = State()


class Step(NamedTuple):
    """What one event does to a conversation. (A named tuple: one is built on every turn, and
    a frozen dataclass costs several times as much to build.)"""

    state: State | None
    """The state to keep; None means the conversation is to be deleted (or never existed)."""
    replies: tuple[Reply, ...]
    changed: bool = True
    tally: tuple[str, ...] = ()
    """What the club's anonymous numbers count for this step: an outcome's level, `helpful`."""


def step(content: Content, state: State | None, event: Event) -> Step:
    """Apply one event to a conversation."""
    if event.kind == "answer" and state is not None and not state.finished and event.value not in _STARTS:
        return _answer(content, state, event)  # a picked answer, the turn most turns are
    if state is not None and state.finished and state.after and event.kind in ("text", "answer"):
        taken = after.answer(content, state, event)  # the question after an outcome, if answered
        if taken is not None:
            return taken
    command: str = event.kind
    if command == "text" and event.text is not None:
        waiting = state is None or state.finished or state.paused
        paused = state is not None and state.paused and not state.finished
        asking = None if waiting or state is None else state.asking
        command = _command(content, event.text, waiting, paused, asking) or command
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
            return _begin(content, event, accepted=True)
        if state is None and event.kind == "answer" and (event.fact or event.value == "resume"):
            # A click on a question whose conversation has expired or was forgotten.
            return Step(None, (_start_prompt(content, _render(content, "expired")),), changed=False)
        text = _render(content, "finished") if state else ""
        return Step(state, (_intro(content, text),), changed=False)

    if command == "resume" or (event.value == "resume" and state.paused):
        return _accepted(Step(state.evolve(paused=False), (_reask(content, state),)))
    if command == "start" or event.value == "start":
        return _begin(content, event, accepted=True)
    return _answer(content, state, event)


@dataclass(frozen=True)
class _Prepared:
    """What every turn needs from one content, worked out once and kept on that content."""

    base: dict[str, Any]
    """The settings and every fact as not known yet: a context starts as a copy."""
    settings: dict[str, Any]
    numbers: frozenset[str]
    urgent: tuple[tuple[Rule, FactCondition], ...]
    """The urgent rules, each with its condition over (facts, settings)."""
    urgent_naming: dict[str, tuple[tuple[Rule, FactCondition], ...]]
    """The urgent rules whose condition names each fact, in order."""
    steps: tuple[tuple[str, FactCondition | None], ...]
    """The flow: each fact to ask and when."""
    questions: dict[tuple[str, bool], tuple[Template, Question]]
    """Each fact's question text and question, without and with a `back` control."""
    asked: dict[tuple[str, bool, bool], Reply]
    """The question replies whose text depends on the settings alone, built once: by fact,
    `back` control, and whether the turn before was an accepted answer."""
    labels: dict[str, dict[str, str]]
    controls: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
    """A question's controls without `back`, and with it."""
    advice: tuple[Advice, ...]
    """The advice, most important first (in content order among equals)."""
    summaries: tuple[tuple[str, str, dict[str, str], Template | None], ...]
    """Each fact in the order the flow asks it, how the answers summary names it, its choices'
    labels and the template that shows a number."""
    unit: str


def _prepared(content: Content) -> _Prepared:
    try:
        return content.derived["engine"]  # type: ignore[no-any-return]
    except KeyError:
        found = content.derived["engine"] = _prepare(content)
        return found


def _prepare(content: Content) -> _Prepared:
    base = {**content.constants, **dict.fromkeys(FACTS, UNKNOWN)}
    numbers = frozenset(name for name, contract in FACTS.items() if contract.kind == "number")
    urgent = tuple(
        (rule, _over_facts(rule.when, rule.where.source, base, numbers))
        for rule in content.rules
        if rule.level == "urgent"
    )
    naming = {fact: tuple(item for item in urgent if fact in _names(item[0])) for fact in FACTS}
    everything = tuple(content.messages.controls.items())
    controls = (tuple(item for item in everything if item[0] != "back"), everything)
    questions: dict[tuple[str, bool], tuple[Template, Question]] = {}
    asked: dict[tuple[str, bool, bool], Reply] = {}
    for name, spec in content.facts.items():
        choices = tuple(Choice(choice.value, choice.label) for choice in spec.choices)
        template = content.templates[f"question:{name}"]
        for back in (False, True):
            question = Question(name, spec.kind, choices, controls[back])
            questions[name, back] = (template, question)
            if f"question:{name}" in content.settled:
                text = template({})
                asked.update(
                    {
                        (name, back, accepted): Reply(text, question, accepted=accepted)
                        for accepted in (False, True)
                    }
                )
    labels = {name: {c.value: c.label for c in spec.choices} for name, spec in content.facts.items()}
    return _Prepared(
        base=base,
        settings=dict(content.constants),
        numbers=numbers,
        urgent=urgent,
        urgent_naming=naming,
        steps=tuple(
            (item.ask, item.when and _over_facts(item.when, item.where.source, base, numbers))
            for item in content.steps
        ),
        questions=questions,
        asked=asked,
        labels=labels,
        controls=controls,
        advice=tuple(sorted(content.advice, key=lambda item: -item.priority)),
        summaries=tuple(
            (
                item.ask,
                content.facts[item.ask].summary,
                labels[item.ask],
                content.templates.get(f"display:{item.ask}"),
            )
            for item in content.steps
        ),
        unit=str(content.constants.get("unit", "miles")),
    )


def _over_facts(when: Condition, source: str, base: dict[str, Any], numbers: frozenset[str]) -> FactCondition:
    """`when` as a condition over (facts, settings), so a turn need not build a context to check
    it; one that runs in the sandbox (or whose source is not at hand) gets its context built."""
    try:
        compiled = compile_fact_condition(source, FACT_NAMES, numbers) if source else None
    except TemplateSyntaxError:
        compiled = None
    if compiled is not None:
        return compiled
    return lambda facts, settings: when(_merged(base, numbers, facts))


def _names(rule: Rule) -> frozenset[str]:
    """The names a rule's condition uses; every fact when its source is not at hand."""
    try:
        return (
            frozenset(names_in(rule.where.source, expression=True)) if rule.where.source else frozenset(FACTS)
        )
    except TemplateSyntaxError:
        return frozenset(FACTS)


def _accepted(result: Step) -> Step:
    """Mark the turn as following an accepted answer, so adapters can settle the question."""
    first, *rest = result.replies
    return result._replace(replies=(replace(first, accepted=True), *rest))


def _command(
    content: Content, text: str, waiting: bool, paused: bool, asking: str | None = None
) -> str | None:
    """The command a text means, if any.

    `restart`, `forget` and `back` must be said on their own, anywhere, give or take the
    language's polite words and the punctuation (`forget me please.`), except where the question
    being asked has an option of the same words (`back` to *where is the pain?* is the back of
    the knee). Starting and resuming only apply while no question is waiting (`yes` starts a
    check from the intro, but mid-triage it is an answer), and there a sentence that contains
    the words is enough (`ok, let's go`).
    """
    said = normalise(text)
    plain = _without_polite(said, content.language.polite)
    spec = content.facts.get(asking) if asking is not None else None
    if spec is not None and (
        names_option(spec, content.language, said) or names_option(spec, content.language, plain)
    ):
        return None
    prompt: tuple[CommandName, ...] = ("resume", "start") if paused else ("start",)
    if waiting and said.isdigit() and 1 <= int(said) <= len(prompt):
        return prompt[int(said) - 1]  # a pick by number from the bot's own prompt
    commands = content.language.commands
    names: tuple[CommandName, ...] = ("forget", "restart", "back", "data", "resume", "start")
    for command in names:
        phrases = _phrases(commands.get(command, ()))
        if (said in phrases or plain in phrases) and (
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


def _without_polite(said: str, polite: tuple[str, ...]) -> str:
    """A normalised text without the polite words around a command (`can you`, `please`) and the
    clause breaks its punctuation left (`forget.` normalises to `forget and`)."""
    for phrase in sorted(_phrases(polite), key=len, reverse=True):
        said = re.sub(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", " ", said)
    words = said.split()
    while words and words[-1] == "and":
        words.pop()
    while words and words[0] == "and":
        words.pop(0)
    return " ".join(words)


def _opening(content: Content, state: State | None) -> Step:
    if state is None or state.finished:
        return Step(state, (_intro(content),), changed=False)
    choices = (
        Choice("resume", content.messages.resume_label),
        Choice("start", content.messages.start_over_label),
    )
    reply = Reply(_render(content, "resume"), Question(None, "single", choices))
    return Step(state.evolve(paused=True), (reply,))


def _intro(content: Content, before: str = "") -> Reply:
    return _start_prompt(content, "\n\n".join(part for part in (before, _render(content, "intro")) if part))


def _start_prompt(content: Content, text: str) -> Reply:
    return Reply(text, Question(None, "single", (Choice("start", content.messages.start_label),)))


def _begin(content: Content, event: Event, before: str = "", accepted: bool = False) -> Step:
    at = event.at.timestamp()
    # A copy of a blank state costs half of building one field by field.
    fresh = _BLANK.evolve(facts={}, content=content.version, started=at, updated=at)
    return _advance(content, fresh, before, accepted=accepted)


def _answer(content: Content, state: State, event: Event) -> Step:
    fact = state.asking
    if fact is None or fact not in content.facts:
        # The content changed under a conversation: pick up from the facts it has.
        return _advance(content, state, "", {"content": content.version})
    if event.fact is not None and event.fact != fact:
        return Step(state, (_reask(content, state, _render(content, "stale_answer")),), changed=False)
    waiting = state.pending
    if waiting is not None:
        confirmed = _confirmation(content, event)
        if confirmed is True:
            return _take(content, state, fact, waiting, "", event)
        state = state.evolve(pending=None)
        if confirmed is False:
            return Step(state, (_reask(content, state, _render(content, "took_back")),))
    spec = content.facts[fact]
    picked = None if event.value is None else understand_value(spec, FACTS[fact], event.value)
    result = picked or understand(
        spec,
        FACTS[fact],
        content.language,
        value=event.value,
        text=event.text,
        now=event.at,
        unit=_prepared(content).unit,
    )
    if isinstance(result, Misunderstood):
        if result.reason == "out_of_range":
            contract = FACTS[fact]
            why = _render(content, "out_of_range", low=_num(contract.low), high=_num(contract.high))
        else:
            why = _render(content, f"not_understood:{spec.kind}")
        hint = _render(content, f"hint:{fact}")
        updated = state.evolve(paused=False)
        return Step(updated, (_reask(content, updated, f"{why} {hint}"),), changed=state.paused)
    if result.confirm and result.value != waiting:  # the same reading said twice is confirmed
        checking = state.evolve(pending=result.value, paused=False)
        return Step(checking, (_confirm(content, checking),))
    said = ""
    if result.from_text:
        facts = {**state.facts, fact: result.value}
        said = _render(
            content, "understood", answer=_display(content, fact, result.value, _context(content, facts))
        )
    return _take(content, state, fact, result.value, said, event)


def _take(content: Content, state: State, fact: str, value: FactValue, said: str, event: Event) -> Step:
    """Keep an answer and move on.

    Only the urgent rules that name this fact are checked again: none held before it (or the
    question would not have been asked, under this same content), and a rule can only change
    with the facts it names.
    """
    facts = {**state.facts, fact: value}
    update = {"facts": facts, "paused": False, "pending": None, "updated": event.at.timestamp()}
    answered = fact if state.content == content.version else None
    return _advance(content, state, said, update, answered=answered, accepted=True)


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
    shown = _display(content, state.asking, state.pending, _context(content, state.facts))
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
    update = {"facts": facts, "pending": None, "rule": None, "paused": False}
    return _advance(content, state, _render(content, "took_back"), update)


def _controls(content: Content, state: State) -> tuple[tuple[str, str], ...]:
    return _prepared(content).controls[_can_go_back(state)]


def _can_go_back(state: State) -> bool:
    """There is an answer, or a reading waiting to be confirmed, to take back."""
    return bool(state.facts) or state.pending is not None


def advance(content: Content, state: State, before: str) -> Step:
    """Ask the next question, or give the outcome (and what follows it) when none is left."""
    return _advance(content, state, before)


def _advance(
    content: Content,
    state: State,
    before: str,
    update: dict[str, Any] | None = None,
    *,
    answered: str | None = None,
    accepted: bool = False,
) -> Step:
    """The next question, or the outcome, for `state` with `update` applied (one copy of it;
    `update` is the caller's fresh dict, which this takes over).

    `answered` names the fact just taken, when only the urgent rules naming it need checking.
    The urgent rules and the flow's conditions read the facts and the settings as they are; the
    context (settings and every fact in one dict) is built only for a text that reads it or for
    the outcome.
    """
    prepared = _prepared(content)
    update = {} if update is None else update
    facts: Mapping[str, FactValue] = update.get("facts", state.facts)
    settings = prepared.settings
    urgent = prepared.urgent if answered is None else prepared.urgent_naming.get(answered, prepared.urgent)
    for rule, holds in urgent:
        try:
            fired = holds(facts, settings)
        except Exception:
            fired = _holds(rule, _context_in(prepared, facts))
        if fired:
            context = _context_in(prepared, facts)
            return after.conclude(content, _finish(content, state, rule, context, before, update, accepted))
    for ask, when in prepared.steps:
        if ask in facts or (when is not None and not when(facts, settings)):
            continue
        update["asking"], update["content"] = ask, content.version
        asked = state.evolve(update)
        return Step(asked, (_question(content, ask, facts, before, _can_go_back(asked), accepted),))
    context = _context_in(prepared, facts)
    rule = after.at_least(content, state, _decide(content, context))
    return after.conclude(content, _finish(content, state, rule, context, before, update, accepted))


def _first_holding(rules: tuple[Rule, ...], context: Mapping[str, Any]) -> Rule | None:
    """The first of `rules` that holds, if any (a rule that cannot be read holds, as below)."""
    for rule in rules:
        try:
            if rule.when(context):
                return rule
        except Exception:
            if _holds(rule, context):
                return rule
    return None


def _holds(rule: Rule, context: Mapping[str, Any]) -> bool:
    try:
        return rule.when(context)
    except Exception:
        # A rule that cannot be read is treated as firing: when unsure, escalate.
        _log.exception("rule %s could not be evaluated; treating it as matched", rule.id)
        return rule.level != "self_care"


def decide(content: Content, facts: Mapping[str, FactValue]) -> Rule:
    """The first rule that matches these facts."""
    return _decide(content, _context(content, facts))


def _decide(content: Content, context: Mapping[str, Any]) -> Rule:
    return _first_holding(content.rules, context) or content.rules[-1]


def _finish(
    content: Content,
    state: State,
    rule: Rule,
    context: Mapping[str, Any],
    before: str,
    update: Mapping[str, Any] | None = None,
    accepted: bool = False,
) -> Step:
    """The outcome, as a runner reads it in a DM, then the answers summary as its own message.

    The advice that applies is ranked by priority: the first few are shown in full, the rest named
    as topics to look up; the outcome's `advice` lists every one.
    """
    prepared = _prepared(content)
    done = state.evolve({**(update or {}), "asking": None, "rule": rule.id, "paused": False})
    facts = done.facts
    context = {**context, "level": rule.level, "rule": rule.id}
    chosen: list[tuple[str, str, str | None]] = []
    if rule.level != "urgent":  # urgent care gets no exercise or training advice, whatever content says
        ranked = [item for item in prepared.advice if item.when(context)]
        chosen = [(item.title(context).strip(), item.text(context).strip(), item.topic) for item in ranked]
    shown = chosen[: content.advice_shown]
    more = list(dict.fromkeys(f"`{topic}`" for _, _, topic in chosen[content.advice_shown :] if topic))
    advice = tuple(f"**{title}:** {text}" for title, text, _ in chosen)
    shown_in = dict(context)  # one copy for every number the summary shows, not one each
    summary = tuple(
        (label, _shown(labels, display, facts[fact], shown_in))
        for fact, label, labels, display in prepared.summaries
        if fact in facts
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
    replies = [Reply(text, outcome=outcome, accepted=accepted)]
    if summary:
        replies.append(Reply(content.templates["answers"](layout)))
    return Step(done, tuple(replies))


def outcome(content: Content, facts: Mapping[str, FactValue]) -> tuple[Reply, ...]:
    """The outcome replies for a finished set of facts, as the triage would end with them."""
    state = State(facts=dict(facts), content=content.version)
    context = _context(content, facts)
    return _finish(content, state, _decide(content, context), context, "").replies


def context(content: Content, facts: Mapping[str, FactValue]) -> dict[str, Any]:
    """What conditions and templates see: the settings and every fact (unknown ones as such)."""
    return _context(content, facts)


def _context(content: Content, facts: Mapping[str, FactValue]) -> dict[str, Any]:
    return _context_in(_prepared(content), facts)


def _context_in(prepared: _Prepared, facts: Mapping[str, FactValue]) -> dict[str, Any]:
    return _merged(prepared.base, prepared.numbers, facts)


def _merged(base: dict[str, Any], numbers: frozenset[str], facts: Mapping[str, FactValue]) -> dict[str, Any]:
    context = {**base, **facts}
    if len(context) != len(base):  # a fact this content does not know: leave it out
        context = {**base, **{name: value for name, value in facts.items() if name in FACTS}}
    for name in numbers:
        value = context[name]
        if value.__class__ is str:  # a word in place of a number (`none`), not yet a Special
            context[name] = Special(value)
    return context


def _question(
    content: Content,
    fact: str,
    facts: Mapping[str, FactValue],
    before: str = "",
    back: bool = False,
    accepted: bool = False,
) -> Reply:
    """A fact's question: the one built once when its text depends on the settings alone, else
    rendered on a context of `facts`."""
    prepared = _prepared(content)
    if not before:
        fixed = prepared.asked.get((fact, back, accepted))
        if fixed is not None:
            return fixed
    template, question = prepared.questions[fact, back]
    text = template(_context_in(prepared, facts))
    return Reply(f"{before}\n\n{text}" if before else text, question, accepted=accepted)


def _reask(content: Content, state: State | None, before: str = "") -> Reply:
    if state is None or state.asking is None or state.asking not in content.facts:
        return _intro(content, before)
    if state.pending is not None:
        confirm = _confirm(content, state)
        return replace(confirm, text=f"{before}\n\n{confirm.text}" if before else confirm.text)
    return _question(content, state.asking, state.facts, before, _can_go_back(state))


def display(content: Content, fact: str, value: FactValue, facts: Mapping[str, FactValue]) -> str:
    """An answer as the summary shows it."""
    return _display(content, fact, value, _context(content, facts))


def _display(content: Content, fact: str, value: FactValue, context: dict[str, Any]) -> str:
    """How an answer reads back to the runner; `context` is a fresh one, with every fact."""
    return _shown(_prepared(content).labels[fact], content.templates.get(f"display:{fact}"), value, context)


def _shown(
    labels: Mapping[str, str], display: Template | None, value: FactValue, context: dict[str, Any]
) -> str:
    """An answer as shown: by its choices' labels, or through the fact's display template with
    `value` set in `context`, which is the caller's own to be written to."""
    if isinstance(value, list):
        return "; ".join(labels.get(v, v) for v in value)
    if isinstance(value, str):
        return labels.get(value, value)
    if display is None:
        return str(value)
    context["value"] = value
    return display(context)


def render_message(content: Content, name: str, **extra: Any) -> str:
    """A message from messages.yaml that needs no facts (`error`, `goodbye`, `help`)."""
    return _render(content, name, **extra)


def _render(content: Content, name: str, **extra: Any) -> str:
    return content.templates[name]({**_prepared(content).base, **extra})


def _num(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


# The outcome's follow-ups live in bot.after, which builds on this module: bound last, once both
# are whole, rather than imported again inside every turn.
from bot import after  # noqa: E402
