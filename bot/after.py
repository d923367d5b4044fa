"""After the outcome, as pure as the engine: the check-in offer and the check-in itself, "was this
helpful?", and what the bot keeps about a runner (`mydata`).

The words and the ways on after a check-in's answer are content (`content/after.yaml`); this module
only follows them. Time arrives with the event, never from a clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot import engine
from bot.content import AFTER_VALUES, AfterQuestionSpec, CheckInPath, Content, Rule
from bot.contract import FACTS, LEVELS
from bot.lookup import lookup
from bot.model import Choice, Event, Question, Reply, State
from bot.understand import Misunderstood, normalise, understand

__all__ = ["answer", "at_least", "conclude", "deliver", "due_now", "level_of", "mydata"]

_DAY = 86400.0
_COMMANDS = ("forget", "restart", "back", "data")


def _spec(content: Content, fact: str) -> AfterQuestionSpec:
    after = content.after
    assert after is not None
    return {"check_in": after.offer, "check_in_progress": after.progress, "helpful": after.helpful}[fact]


def _days(content: Content) -> float:
    days = content.constants.get("check_in_days", 3)
    return float(days) if isinstance(days, int | float) else 3.0


def _shown_days(content: Content) -> int | float:
    days = _days(content)
    return int(days) if days == int(days) else days


def _render(content: Content, name: str, **extra: Any) -> str:
    return engine.render_message(content, name, **extra)


def _said(content: Content, text: str) -> Reply:
    """A last word with nothing more to ask: it waits, as every turn does, on `start`."""
    start = Choice("start", content.messages.start_label)
    return Reply(text, Question(None, "single", (start,)), accepted=True)


def _question(content: Content, fact: str, text: str, before: str = "") -> Reply:
    joined = "\n\n".join(part for part in (before.strip(), text.strip()) if part)
    return Reply(joined, _prepared(content).questions[fact])


def _offer(content: Content, before: str = "") -> Reply:
    return _question(content, "check_in", _prepared(content).offer, before)


@dataclass(frozen=True)
class _Prepared:
    """What the questions after an outcome need from one content, worked out once, kept on it."""

    questions: dict[str, Question]
    offer: str
    """The check-in offer's text: it depends on the settings alone."""


def _prepared(content: Content) -> _Prepared:
    try:
        return content.derived["after"]  # type: ignore[no-any-return]
    except KeyError:
        questions = {
            fact: Question(
                fact, "single", tuple(Choice(c.value, c.label) for c in _spec(content, fact).choices)
            )
            for fact in ("check_in", "check_in_progress", "helpful")
        }
        offer = _render(content, "after:offer", days=_shown_days(content), due="")
        found = content.derived["after"] = _Prepared(questions, offer)
        return found


def _helpful(content: Content, before: str = "") -> Reply:
    return _question(content, "helpful", _render(content, "after:helpful"), before)


def level_of(content: Content, rule_id: str | None) -> str | None:
    """The level of a rule of the triage or of a check-in path."""
    for rule in (*content.rules, *(path.rule for path in content.paths if path.rule)):
        if rule.id == rule_id:
            return rule.level
    return None


def at_least(content: Content, state: State, rule: Rule) -> Rule:
    """The rule the triage ends at: `rule`, or the check-in's floor when that is higher."""
    if state.floor is None:
        return rule
    floor = next((p.rule for p in content.paths if p.rule and p.rule.id == state.floor), None)
    if floor is not None and LEVELS.index(floor.level) < LEVELS.index(rule.level):
        return floor
    return rule


def conclude(content: Content, result: engine.Step) -> engine.Step:
    """An outcome just given: count it, and ask the question that follows it on the answers
    summary (the check-in offer, or for urgent outcomes only "was this helpful?")."""
    state, replies = result.state, list(result.replies)
    outcome = replies[0].outcome if replies else None
    if state is None or outcome is None or content.after is None:
        return result
    offer = outcome.level in content.after.offer.levels
    asked = "check_in" if offer else "helpful"
    if not offer and state.helped:
        asked = ""
    last = replies[-1]
    if asked:
        question = _offer(content, last.text) if offer else _helpful(content, last.text)
        replies[-1] = Reply(question.text, question.question, last.outcome, last.accepted)
    done = state.evolve(after=asked or None, due=None, floor=None)
    return engine.Step(done, tuple(replies), tally=(outcome.level,))


def due_now(state: State | None, at: datetime) -> bool:
    return state is not None and state.finished and state.due is not None and state.due <= at.timestamp()


def deliver(content: Content, state: State | None, event: Event) -> engine.Step:
    """A check-in that may be due: ask *How is your knee?* once, and only once it is due."""
    if state is None or not due_now(state, event.at):
        return engine.Step(state, (), changed=False)
    asked = state.evolve(due=None, after="check_in_progress", paused=False)
    return engine.Step(asked, (_question(content, "check_in_progress", _render(content, "after:progress")),))


def answer(content: Content, state: State, event: Event) -> engine.Step | None:
    """The runner's answer to the question after an outcome, or None when the event is not one
    (a command, `start`, a stale click): the engine then takes it as usual."""
    fact = state.after
    if fact is None or fact not in AFTER_VALUES:
        return None
    value: str | None = None
    if event.kind == "answer":
        if event.fact not in (None, fact) or not isinstance(event.value, str):
            return None
        value = event.value if event.value in AFTER_VALUES[fact] else None
        if value is None:
            return None
    elif event.kind == "text" and event.text is not None:
        said = normalise(event.text)
        commands = content.language.commands
        if any(said in {normalise(p) for p in commands.get(name, ())} for name in _COMMANDS):  # type: ignore[call-overload]
            return None
        if fact == "check_in_progress" and _warning_sign(content, event):
            value = "worse"  # a warning sign said in any words is taken as worse, never missed
        else:
            value = _read(content, fact, said)
        if value is None:
            if fact != "check_in_progress" or said in {normalise(p) for p in commands.get("start", ())}:
                return None
            why = _render(content, "not_understood:single")
            return engine.Step(
                state, (_question(content, fact, _render(content, "after:progress"), why),), changed=False
            )
    else:
        return None
    if fact == "check_in":
        return _checking_in(content, state, event, value == "yes")
    if fact == "helpful":
        thanked = state.evolve(after=None, helped=True)
        tally = ("helpful" if value == "yes" else "unhelpful",)
        return engine.Step(thanked, (_said(content, _render(content, "after:thanks")),), tally=tally)
    return _progress(content, state, event, value)


def _checking_in(content: Content, state: State, event: Event, accepted: bool) -> engine.Step:
    after = content.after
    assert after is not None
    if accepted:
        due = event.at.timestamp() + _days(content) * _DAY
        said = _render(
            content, "after:accepted", days=_shown_days(content), due=_date(content, due, event.at)
        )
    else:
        due, said = None, _render(content, "after:declined")
    updated = state.evolve(due=due, after=None if state.helped else "helpful")
    reply = _said(content, said) if state.helped else _helpful(content, said)
    return engine.Step(updated, (Reply(reply.text, reply.question, accepted=True),))


def _progress(content: Content, state: State, event: Event, value: str) -> engine.Step:
    counted = state.check_ins + 1
    context = _path_context(content, state, event, value, counted)
    path = next((p for p in content.paths if _holds(p, context)), None)
    if path is None:  # content with no way on for this answer: say thanks and stop asking
        return engine.Step(state.evolve(after=None), (Reply(_render(content, "after:thanks")),))
    said = content.templates[f"after:say:{path.id}"](context).strip()
    moved = state.evolve(check_ins=counted, progress=value, after=None)
    if path.then == "rescreen":
        facts = {k: v for k, v in moved.facts.items() if k != "red_flags"}
        again = moved.evolve(facts=facts, rule=None, floor=path.rule and path.rule.id)
        return _accepted(engine.advance(content, again, said))
    if path.then == "outcome":
        again = moved.evolve(rule=None, floor=path.rule and path.rule.id)
        return _accepted(engine.advance(content, again, said))
    if path.then == "offer":
        return engine.Step(moved.evolve(after="check_in"), (_offer(content, said),))
    return engine.Step(moved, (_said(content, said),))


def _accepted(result: engine.Step) -> engine.Step:
    first, *rest = result.replies
    return engine.Step(
        result.state,
        (Reply(first.text, first.question, first.outcome, True), *rest),
        result.changed,
        result.tally,
    )


def _holds(path: CheckInPath, context: Mapping[str, Any]) -> bool:
    try:
        return bool(path.when(context))
    except Exception:
        return False


def _path_context(content: Content, state: State, event: Event, value: str, counted: int) -> dict[str, Any]:
    context = engine.context(content, state.facts)
    days_left: Any = None
    taper = ""
    race = state.facts.get("days_to_race")
    if isinstance(race, int | float) and state.updated:
        days_left = int(race - (event.at.timestamp() - state.updated) // _DAY)
        weekly = state.facts.get("weekly_miles")
        if 0 <= days_left <= 21 and isinstance(weekly, int | float) and weekly > 0:
            plan = lookup(content, "taper", f"{weekly:g} mi in {days_left} days", now=event.at, command="?")
            taper = plan.text.split("\n\n")[1] if plan.text.count("\n\n") >= 2 else ""
    return {
        **context,
        "progress": value,
        "level": level_of(content, state.rule) or "",
        "check_ins": counted,
        "days_left": days_left,
        "taper": taper,
    }


def _read(content: Content, fact: str, said: str) -> str | None:
    """A choice from what was typed: its number, its value, label or synonyms, or (for a yes/no
    question) the language's yes and no; else a choice whose words appear alone in the text."""
    choices = _spec(content, fact).choices
    if said.isdigit() and 1 <= int(said) <= len(choices):
        return choices[int(said) - 1].value
    words: dict[str, set[str]] = {}
    for choice in choices:
        phrases = {choice.value, choice.label, *choice.synonyms}
        if choice.value == "yes":
            phrases |= set(content.language.yes)
        if choice.value == "no":
            phrases |= set(content.language.no)
        words[choice.value] = {normalise(p) for p in phrases} - {""}
    exact = [value for value, phrases in words.items() if said in phrases]
    if len(exact) == 1:
        return exact[0]
    found = [
        value
        for value, phrases in words.items()
        if any(re.search(rf"(?<![\w']){re.escape(p)}(?![\w'])", said) for p in phrases if len(p) > 2)
    ]
    return found[0] if len(found) == 1 else None


def _warning_sign(content: Content, event: Event) -> bool:
    result = understand(
        content.facts["red_flags"],
        FACTS["red_flags"],
        content.language,
        value=None,
        text=event.text,
        now=event.at,
        unit=str(content.constants.get("unit", "miles")),
    )
    if isinstance(result, Misunderstood) or not isinstance(result.value, list):
        return False
    return bool(set(result.value) - {"none", "unsure"})


def mydata(content: Content, state: State | None, event: Event) -> Reply:
    """What is kept about this runner: the facts in the summary's words, any check-in, and when
    everything goes."""
    facts: list[tuple[str, str]] = []
    if state is not None:
        facts = [
            (
                content.facts[step.ask].summary,
                engine.display(content, step.ask, state.facts[step.ask], state.facts),
            )
            for step in content.steps
            if step.ask in state.facts
        ]
    due = _date(content, state.due, event.at) if state is not None and state.due else ""
    until = (
        _date(content, state.kept_until, event.at, time=True)
        if state is not None and state.kept_until
        else ""
    )
    return Reply(_render(content, "after:data", facts=facts, due=due, until=until))


def _date(content: Content, stamp: float, at: datetime, *, time: bool = False) -> str:
    """A date in the runner's language, in the event's time zone (the terminal's, or UTC)."""
    zone: tzinfo | None = at.tzinfo
    when = datetime.fromtimestamp(stamp, tz=zone)
    language = content.language
    text = language.date_format.format(
        weekday=language.weekday_short[when.weekday()],
        day=when.day,
        month=language.month_short[when.month - 1],
    )
    if time:
        text += f", {when:%H:%M} {when.tzname() or ''}".rstrip()
    return text
