"""The engine step itself: pure, and explicit about what it accepted."""

from __future__ import annotations

from bot import engine
from bot.content import Content
from bot.model import Event
from tests.conftest import NOW


def test_accepted_marks_only_answers_that_were_taken(content: Content) -> None:
    started = engine.step(content, None, Event("answer", NOW, value="start"))
    assert started.replies[0].accepted, "the start pick was taken"
    state = started.state
    unclear = engine.step(content, state, Event("text", NOW, text="purple"))
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
