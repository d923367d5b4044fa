"""The engine step itself: pure, and explicit about what it accepted."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from bot import engine
from bot.content import Content, Where, default_content_dir, load_content
from bot.model import Event
from tests.conftest import CONSTANTS, NOW


def test_accepted_marks_only_answers_that_were_taken(content: Content) -> None:
    started = engine.step(content, None, Event("answer", NOW, value="start"))
    assert started.replies[0].accepted, "the start pick was taken"
    state = started.state
    unclear = engine.step(content, state, Event("text", NOW, text="zebra"))
    assert not unclear.replies[0].accepted
    stale = engine.step(content, state, Event("answer", NOW, value="injury", fact="onset"))
    assert not stale.replies[0].accepted
    assert not stale.changed
    taken = engine.step(content, state, Event("answer", NOW, value=("none",), fact="red_flags"))
    assert taken.replies[0].accepted
    assert taken.state is not None
    assert taken.state.asking == "onset"


def test_the_step_is_pure(content: Content) -> None:
    state = engine.step(content, None, Event("answer", NOW, value="start")).state
    event = Event("text", NOW, text="none of these")
    first = engine.step(content, state, event)
    second = engine.step(content, state, event)
    assert first == second
    assert state is not None
    assert state.facts == {}, "the input state is left as it was"


def test_fast_conditions_agree_with_the_jinja_sandbox(content: Content) -> None:
    """Every shipped condition runs as plain Python; it must answer as Jinja2 would."""
    import itertools
    import random

    from jinja2.sandbox import SandboxedEnvironment

    from bot.contract import FACTS
    from bot.expressions import UNKNOWN, compile_condition
    from bot.lint import candidates

    env = SandboxedEnvironment()
    sources = [r.where.source for r in content.rules] + [
        s.where.source for s in content.steps if s.where.source
    ]
    pools = {fact: list(candidates(fact, {2, 5, 7, 14, 21})) for fact in FACTS}
    chooser = random.Random(7)
    for source in sources:
        fast, slow = compile_condition(source), env.compile_expression(source, undefined_to_none=False)
        for _ in itertools.repeat(None, 300):
            context = {fact: chooser.choice(pool) for fact, pool in pools.items()}
            context.setdefault("red_flags", UNKNOWN)
            assert fast(context) == bool(slow(**context)), (source, context)


def _answers(content: Content, *answers: object) -> engine.Step:
    """A triage through picked answers; the last step."""
    result = engine.step(content, None, Event("answer", NOW, value="start"))
    for answer in answers:
        value = tuple(answer) if isinstance(answer, list) else answer
        result = engine.step(content, result.state, Event("answer", NOW, value=value))  # type: ignore[arg-type]
    return result


INJURED_AT_60 = (["none"], "injury", 3, "55_plus")


def test_an_urgent_rule_that_runs_in_the_sandbox_still_ends_the_triage_at_once(
    content: Content, tmp_path: Path
) -> None:
    """A turn checks the urgent rules on the facts as they are; one the plain-Python writer
    leaves to the sandbox (a filter here) gets the whole context and answers the same."""
    folder = tmp_path / "content"
    shutil.copytree(default_content_dir(), folder)
    rules = folder / "rules.yaml"
    shipped = 'when: onset == "injury" and days_since_onset <= 7'
    assert shipped in rules.read_text()
    rules.write_text(
        rules.read_text().replace(shipped, 'when: onset == "injury" and [days_since_onset] | first <= 7')
    )
    edited = load_content(folder, CONSTANTS)
    assert next(r for r in edited.rules if r.id == "U4").when.__code__.co_filename != "<condition>"
    for each in (content, edited):
        ended = _answers(each, *INJURED_AT_60)
        assert ended.state is not None
        assert (ended.state.rule, ended.state.asking) == ("U4", None), "urgent right after the age"
        assert ended.replies[0].outcome is not None
        assert ended.replies[0].outcome.level == "urgent"


def test_an_urgent_rule_that_cannot_be_read_escalates(content: Content) -> None:
    def unreadable(context: Mapping[str, object]) -> bool:
        raise RuntimeError("broken")

    rules = tuple(
        replace(rule, when=unreadable, where=Where("rules.yaml", 1)) if rule.id == "U2" else rule
        for rule in content.rules
    )
    broken = replace(content, rules=rules)
    ended = _answers(broken, ["none"])
    assert ended.state is not None
    assert ended.state.rule == "U2", "a red-flag rule that cannot be read counts as holding"
    assert _answers(content, ["none"]).state.asking == "onset"  # type: ignore[union-attr]
