"""Compiled conditions and templates answer exactly as Jinja2's sandbox would, on any facts.

Conditions made of names, constants, comparisons and `and`/`or`/`not` run as plain Python
functions, plain templates as a join, and the rest in the sandbox over a light context. Hypothesis
writes conditions and templates of every shape those paths take and compares each with Jinja2
itself, value for value, and error for error.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SandboxedEnvironment

from bot import content as content_module
from bot import engine, expressions
from bot.content import Content, load_content
from bot.contract import FACTS, LEVELS
from bot.expressions import (
    UNKNOWN,
    Special,
    Template,
    _distance,
    compile_condition,
    compile_fact_condition,
    compile_template,
    names_in,
)
from bot.lint import candidates
from tests.conftest import CONSTANTS as SETTINGS
from tests.test_rules_property import ORDER, RUNNERS

JINJA = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)
JINJA.filters["distance"] = _distance
NAMES = ["onset", "days_since_onset", "red_flags", "age", "surface", "shoe_miles", "days_to_race", "level"]
WORDS = sorted({v for fact in FACTS.values() for v in fact.values} | set(LEVELS))


def _pool(name: str) -> list[Any]:
    if name == "level":
        return [UNKNOWN, *LEVELS]
    return [*candidates(name, {7, 14, 21}), 6.5, "injury", ["road"], Special("none")]


CONTEXTS = st.fixed_dictionaries({name: st.sampled_from(_pool(name)) for name in NAMES})

CONSTANTS = st.one_of(
    st.sampled_from(WORDS).map(repr),
    st.integers(-2, 30).map(str),
    st.sampled_from(["-1", "-6.5", "+3", "- days_since_onset"]),
    st.sampled_from(["6.5", "0.0", "true", "false", "none", "True", "'a\"b'", "''"]),
)
LITERALS = st.one_of(
    CONSTANTS,
    st.lists(CONSTANTS, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    st.lists(CONSTANTS, min_size=1, max_size=3).map(lambda items: f"({', '.join(items)},)"),
)
OPERANDS = st.one_of(st.sampled_from(NAMES), LITERALS)
OPERATORS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])


def _maybe_parens(source: str, wrap: bool) -> str:
    return f"({source})" if wrap else source


COMPARISONS = st.builds(
    lambda first, rest: first + "".join(f" {op} {operand}" for op, operand in rest),
    OPERANDS,
    st.lists(st.tuples(OPERATORS, OPERANDS), min_size=1, max_size=2),
)
TESTS = st.builds(
    lambda operand, negated, test: f"{operand} is {'not ' if negated else ''}{test}",
    OPERANDS,
    st.booleans(),
    st.sampled_from(["string", "number", "integer", "float", "boolean", "none", "true", "false"]),
)
CONDITIONS = st.recursive(
    st.one_of(COMPARISONS, TESTS, st.sampled_from(NAMES), LITERALS),
    lambda inner: st.one_of(
        st.builds(lambda x, wrap: "not " + _maybe_parens(x, wrap), inner, st.booleans()),
        st.builds(
            lambda x, op, y, wrap: f"{_maybe_parens(x, wrap)} {op} {_maybe_parens(y, wrap)}",
            inner,
            st.sampled_from(["and", "or"]),
            inner,
            st.booleans(),
        ),
    ),
    max_leaves=6,
)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "value", run()
    except Exception as exc:
        return "raised", type(exc)


@settings(max_examples=1000, deadline=None)
@given(CONDITIONS, CONTEXTS)
def test_compiled_conditions_agree_with_the_sandbox(source: str, context: dict[str, Any]) -> None:
    try:
        slow = JINJA.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError:
        with pytest.raises(TemplateSyntaxError):
            compile_condition(source)
        return
    fast = compile_condition(source)
    assert fast.__code__.co_filename == "<condition>", f"{source!r} should run as plain Python"
    expected = _outcome(lambda: bool(slow(**context)))
    assert _outcome(lambda: fast(context)) == expected, (source, context)


EVERY_FACT = frozenset(FACTS)
NUMBER_FACTS = frozenset(name for name, fact in FACTS.items() if fact.kind == "number")
# As a store gives them back: a word in a number fact is a plain str, half the time here.
STORED = st.fixed_dictionaries(
    {
        name: st.one_of(st.sampled_from(_pool(name)), st.sampled_from(["none", "unsure", "injury"]))
        if name in NUMBER_FACTS
        else st.sampled_from(_pool(name))
        for name in NAMES
    }
)


@settings(max_examples=1000, deadline=None)
@given(CONDITIONS, STORED)
def test_conditions_over_the_facts_answer_as_over_the_whole_context(
    source: str, drawn: dict[str, Any]
) -> None:
    """What a turn checks without building a context (the facts known so far, as stored, and the
    settings) answers as the condition does on the context the engine would build."""
    try:
        whole = compile_condition(source)
    except TemplateSyntaxError:
        return
    over_facts = compile_fact_condition(source, EVERY_FACT, NUMBER_FACTS)
    assert over_facts is not None, f"{source!r} should run as plain Python"
    # Stored facts are plain JSON values (a word in a number fact is a str); unknown ones are absent.
    facts = {
        name: str(value) if isinstance(value, Special) else value
        for name, value in drawn.items()
        if name in FACTS and value is not UNKNOWN
    }
    contents, _ = _shipped()
    settings_ = {**contents[0].constants, "level": drawn["level"]}
    context = {**engine.context(contents[0], facts), "level": drawn["level"]}
    expected = _outcome(lambda: whole(context))
    assert _outcome(lambda: over_facts(facts, settings_)) == expected, (source, facts)


def test_a_condition_beyond_plain_operators_stays_in_the_sandbox() -> None:
    context = {"days_since_onset": 30}
    condition = compile_condition("days_since_onset // 7 > 3")
    assert condition.__code__.co_filename != "<condition>"
    assert condition(context) is True
    assert compile_condition("days_since_onset is divisibleby 3")(context) is True
    assert compile_condition("days_since_onset is divisibleby(3)").__code__.co_filename != "<condition>"
    with pytest.raises(SecurityError):
        compile_condition("''.__class__.__mro__[1].__subclasses__()")(context)


TEXT = st.text(alphabet=st.sampled_from(list("ab \n-*_:.,")), max_size=8)
PLAIN = st.lists(st.one_of(TEXT, st.sampled_from(NAMES).map(lambda n: f"{{{{ {n} }}}}")), max_size=6).map(
    "".join
)
BLOCKS = st.builds(
    lambda cond, yes, no, tail: f"{{% if {cond} %}}\n{yes}{{% else %}}{no}\n{{% endif %}}{tail}",
    COMPARISONS,
    PLAIN,
    PLAIN,
    PLAIN,
)


WORD = st.sampled_from(["injury", "road", "Mon 1 Dec", "", "a b"])
ROW = st.one_of(
    st.fixed_dictionaries(
        {"label": WORD, "low": st.sampled_from([10, 6.5, 0, 25])},
        optional={"starts": st.sampled_from(["", "Mon 1 Dec"])},
    ),
    st.builds(SimpleNamespace, label=WORD, low=st.integers(0, 60), starts=st.sampled_from(["", "Sat"])),
)
TEMPLATE_CONTEXTS = st.builds(
    lambda facts, more: {**facts, **more},
    CONTEXTS,
    st.fixed_dictionaries(
        {
            # Mostly a few items, so that loops run and what follows them reads their names again.
            "words": st.one_of(
                st.lists(WORD, min_size=1, max_size=3),
                st.lists(st.one_of(WORD, st.sampled_from([3, 6.5])), max_size=3),
                st.just(UNKNOWN),
            ),
            "pairs": st.one_of(
                st.lists(st.tuples(WORD, st.one_of(WORD, st.integers(0, 30))), min_size=1, max_size=3),
                st.lists(st.tuples(WORD, st.one_of(WORD, st.integers(0, 30))), max_size=3),
                st.just([("a", "b", "c")]),
            ),
            "rows": st.lists(ROW, min_size=1, max_size=3),
        },
        optional={
            "unit": st.sampled_from(["km", "miles"]),
            "unit_word": st.sampled_from(["km", "kilómetros", ""]),
        },
    ),
)
FACT_NAMES = [*NAMES, "unit", "unit_word", "words"]


def _output(expression: str) -> str:
    return f"{{{{ {expression} }}}}"


@functools.cache
def _expressions(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Expressions of every shape a compiled template takes, over the names in scope."""
    conditions = st.one_of(CONDITIONS, st.sampled_from(names))

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda x, c, y: f"({x} if {c} else {y})", inner, conditions, inner),
            st.builds(lambda x, c: f"({x} if {c})", inner, conditions),
            st.builds(lambda x, y: f"({x} ~ {y})", inner, inner),
            st.builds(
                lambda x, y: f"({x} * {y})", inner, st.sampled_from(["0.8", "2", "-1", "days_since_onset"])
            ),
            st.builds(lambda x, op, y: f"({x} {op} {y})", inner, st.sampled_from(["+", "-", "/"]), inner),
            st.builds(lambda x, op, y: f"({x} {op} {y})", inner, OPERATORS, inner),
            st.builds(
                lambda x, plain: f"({x} | distance{'(plain=True)' if plain else ''})", inner, st.booleans()
            ),
            st.builds(lambda x, sep: f"({x} | join({sep}))", inner, st.sampled_from(["', '", "", "d=' '"])),
            st.builds(
                lambda k, x, d: f"{{'injury': {x}, 'road': 'r', 3: 'three'}}.get({k}{d})",
                inner,
                inner,
                st.sampled_from(["", ", 'other'", ", days_since_onset"]),
            ),
            st.builds(lambda x: f"(not {x})", inner),
            st.builds(lambda x: f"[{x}, 'b']", inner),
        )

    return st.recursive(st.one_of(st.sampled_from(names), CONSTANTS), grow, max_leaves=4)


# Loops of every kind the content writes: over pairs, over words, over rows read through
# attributes, and one whose target shadows a fact. What follows a loop reads its names again:
# they mean there what they meant before it.
LOOPS = [
    ("{% for a, b in pairs %}\n", ("a", "b"), ""),
    ("{% for (a, b) in pairs %}", ("a", "b"), "{{ a if a is string else b is number }}"),
    ("{% for w in words %}", ("w",), ""),
    ("{% for onset in words %}", (), "{{ onset }}"),
    ("{% for row in rows %}\n", ("row.label", "row.low", "row.starts"), ""),
]


@functools.cache
def _body(names: tuple[str, ...], depth: int) -> st.SearchStrategy[str]:
    piece = st.one_of(TEXT, _expressions(names).map(_output))
    if depth:
        inner = _body(names, depth - 1)
        conditions = st.one_of(CONDITIONS, _expressions(names))
        branch = st.builds(lambda c, body: f"{{% elif {c} %}}{body}", conditions, inner)
        piece = st.one_of(
            piece,
            st.builds(
                lambda c, body, elifs, otherwise: (
                    f"{{% if {c} %}}\n{body}{''.join(elifs)}{otherwise}{{% endif %}}\n"
                ),
                conditions,
                inner,
                st.lists(branch, max_size=2),
                st.one_of(st.just(""), inner.map(lambda body: f"{{% else %}}\n{body}")),
            ),
            st.sampled_from(LOOPS).flatmap(
                lambda loop: _body(names + loop[1], depth - 1).map(
                    lambda body: f"{loop[0]}{body}{{% endfor %}}{loop[2]}"
                )
            ),
        )
    return st.lists(piece, max_size=4).map("".join)


@st.composite
def covered_templates(draw: st.DrawFn) -> str:
    """Top-level `set`s (one may shadow a name of the context), then a body of text, outputs, ifs
    and loops."""
    names, unset, source = tuple(FACT_NAMES), {"weeks", "words"}, ""
    for target in draw(st.lists(st.sampled_from(["weeks", "words"]), max_size=2)):
        # Read before its `set`, a name is the sandbox's to scope, so no `set` follows such a read.
        readable = tuple(name for name in names if name not in unset)
        source += f"{{% set {target} = {draw(_expressions(readable))} %}}"
        names, unset = tuple(dict.fromkeys((*names, target))), unset - {target}
    return source + draw(_body(names, 2))


def _agrees(source: str, context: dict[str, Any]) -> None:
    template = compile_template(source)
    before = dict(context)
    expected = _outcome(lambda: JINJA.from_string(source).render(**context).strip())
    assert _outcome(lambda: template(context)) == expected, (source, context)
    assert context == before, "rendering never changes the context it is given"
    assert all(context[name] is value for name, value in before.items())


@settings(max_examples=400, deadline=None)
@given(st.one_of(PLAIN, BLOCKS), CONTEXTS)
def test_compiled_templates_render_as_jinja_does(source: str, context: dict[str, Any]) -> None:
    _agrees(source, context)


@settings(max_examples=400, deadline=None)
@given(covered_templates(), TEMPLATE_CONTEXTS)
def test_every_covered_shape_runs_as_python_and_renders_as_jinja_does(
    source: str, context: dict[str, Any]
) -> None:
    assert compile_template(source).__code__.co_filename == "<template>", f"{source!r} should run as Python"
    _agrees(source, context)


SHIPPED_SETTINGS = [
    ("en", SETTINGS),
    ("es", SETTINGS),
    ("en", {**SETTINGS, "unit": "km", "club_name": "Riverside Harriers", "booking_name": "Riverside Physio",
            "booking_link": "https://example.org/book"}),
]  # fmt: skip


@functools.cache
def _shipped() -> tuple[tuple[Content, ...], tuple[str, ...]]:
    """The shipped content in English, in Spanish and under a club's own settings, and the source of
    every template loading them compiles."""
    sources: list[str] = []

    def compile_and_keep(source: str) -> Template:
        sources.append(source)
        return compile_template(source)

    with mock.patch.object(content_module, "compile_template", compile_and_keep):
        contents = tuple(
            load_content(None, constants, locale=locale) for locale, constants in SHIPPED_SETTINGS
        )
    return contents, tuple(dict.fromkeys(sources))


def test_every_shipped_template_runs_as_python() -> None:
    contents, sources = _shipped()
    assert len(sources) > 300
    assert [
        source for source in sources if compile_template(source).__code__.co_filename != "<template>"
    ] == []
    for content in contents:
        # A template of settings alone is rendered once at load; the engine holds its text.
        live = [template for name, template in content.templates.items() if name not in content.settled]
        compiled = [*live, *content.settled.values()]
        assert {template.__code__.co_filename for template in compiled} == {"<template>"}


def _jinja_names(source: str) -> set[str]:
    return set(find_undeclared_variables(JINJA.parse(source)))


def test_the_names_a_shipped_text_reads_are_the_ones_jinja_finds() -> None:
    # names_in reads the names off the tree when nothing in it declares one: the loader judges
    # every template by them (an unknown fact, a text of settings alone rendered once).
    _, sources = _shipped()
    assert [source for source in sources if names_in(source, expression=False) != _jinja_names(source)] == []


@settings(max_examples=300, deadline=None)
@given(st.one_of(covered_templates(), PLAIN, BLOCKS))
def test_the_names_a_template_reads_are_the_ones_jinja_finds(source: str) -> None:
    assert names_in(source, expression=False) == _jinja_names(source), source


@settings(max_examples=300, deadline=None)
@given(CONDITIONS)
def test_the_names_a_condition_reads_are_the_ones_jinja_finds(source: str) -> None:
    try:
        expected = _jinja_names("{{ (" + source + ") }}")
    except TemplateSyntaxError:
        with pytest.raises(TemplateSyntaxError):
            names_in(source, expression=True)
        return
    assert names_in(source, expression=True) == expected, source


def test_names_read_before_a_set_or_beside_a_loop_are_jinjas_own() -> None:
    assert names_in("{{ weeks }}{% set weeks = 2 %}{{ weeks }}", expression=False) == {"weeks"}
    assert names_in("{% for a, b in summary %}{{ a }}{{ c }}{% endfor %}", expression=False) == {
        "summary",
        "c",
    }
    assert names_in("{{ loop }}", expression=False) == _jinja_names("{{ loop }}")
    assert names_in("{{ self }}", expression=False) == _jinja_names("{{ self }}")
    # Reading its names leaves a text as it was: Jinja2's code generator folds a dict literal in
    # the tree it is given, which would leave the `.get` below to the sandbox.
    source = "{% set weeks = {'half': 'two'}.get(race_distance) %}{{ weeks }}"
    assert names_in(source, expression=False) == {"race_distance"}
    assert compile_template(source).__code__.co_filename == "<template>"


TEXTS = st.sampled_from(["", "Sat 13 Dec", "Front of the knee", "**bold**\nnext"])
PAIRS = st.lists(st.tuples(TEXTS, st.one_of(TEXTS, st.integers(0, 60))), max_size=3)
WEEK = st.fixed_dictionaries(
    {"label": TEXTS, "starts": st.sampled_from(["", "Mon 1 Dec"]), "low": st.integers(0, 60),
     "high": st.one_of(st.integers(0, 80), st.floats(0, 80))}
)  # fmt: skip
# What the engine, the look-ups and the check-ins put beside the facts and settings.
TEMPLATE_EXTRAS = st.fixed_dictionaries(
    {
        "value": st.one_of(st.integers(0, 60), st.sampled_from([Special("none"), Special("unsure"), 6.5])),
        "days": st.integers(0, 30), "days_left": st.one_of(st.integers(-2, 30), st.just(Special("none"))),
        "summary": PAIRS, "facts": PAIRS, "weeks": st.lists(WEEK, max_size=4),
        "advice": st.lists(TEXTS, max_size=3), "more": st.lists(TEXTS, max_size=3),
        "level": st.sampled_from(LEVELS), "rule": st.sampled_from(["U1", "U2", "U3", "P1", "S1"]),
        "usual": st.one_of(st.integers(0, 120), st.floats(0, 120)), "low": st.integers(0, 60),
        "high": st.integers(0, 80), "retention_hours": st.sampled_from([24, 48]),
        **dict.fromkeys(
            ("answer", "body", "build", "command", "disclaimer", "due", "go_today", "headline", "more_line",
             "professional", "race", "reason", "suggestions", "summary_title", "taper", "topic", "topics",
             "until"),
            TEXTS,
        ),
    }
)  # fmt: skip
_BOTH_WAYS: dict[str, tuple[Template, Any]] = {}


@settings(max_examples=300, deadline=None)
@given(RUNNERS, st.sets(st.sampled_from(ORDER)), TEMPLATE_EXTRAS, st.integers(0, len(SHIPPED_SETTINGS) - 1))
def test_shipped_templates_render_as_the_sandbox_does(
    answers: dict[str, Any], unasked: set[str], extras: dict[str, Any], which: int
) -> None:
    contents, sources = _shipped()
    facts = {name: value for name, value in answers.items() if name not in unasked}
    context = {**engine.context(contents[which], facts), **extras}
    for source in sources:
        if source not in _BOTH_WAYS:
            _BOTH_WAYS[source] = compile_template(source), JINJA.from_string(source)
        compiled, sandboxed = _BOTH_WAYS[source]
        expected = _outcome(lambda: sandboxed.render(**context).strip())  # noqa: B023 - run at once
        assert _outcome(lambda: compiled(context)) == expected, (source, context)  # noqa: B023


def test_a_template_names_only_what_its_context_holds() -> None:
    with pytest.raises(UndefinedError):
        compile_template("Hello {{ club_name }}")({})
    with pytest.raises(UndefinedError):
        compile_template("{% if unit %}x{% endif %}")({})


def test_a_set_inside_a_template_stays_inside_one_rendering() -> None:
    template = compile_template("{% set weeks = 'two' if fast else 'three' %}{{ weeks }} weeks")
    context = {"fast": True}
    assert template(context) == "two weeks"
    assert template({"fast": False}) == "three weeks"
    assert context == {"fast": True}


def test_templates_stay_sandboxed() -> None:
    with pytest.raises(SecurityError):
        compile_template("{{ ''.__class__.__mro__[1].__subclasses__() }}")({})


def test_compiled_templates_read_attributes_through_the_sandbox_and_call_only_a_dicts_get() -> None:
    context = {"onset": "injury", "rows": [{"label": "Week 1"}], "race_distance": "half"}
    for source in (
        "{{ onset.__class__ }}",
        "{% for row in rows %}{{ row.__class__.__mro__ }}{% endfor %}",
        "{{ {'a': 1}.get.__self__ }}",
        "{{ (onset ~ '').__class__ if onset }}",
    ):
        assert compile_template(source).__code__.co_filename == "<template>", source
        with pytest.raises(SecurityError):
            compile_template(source)(context)
    lookup = compile_template(
        "{{ {'half': 'ten days', 'marathon': 'three weeks'}.get(race_distance, 'a week') }}"
    )
    assert lookup.__code__.co_filename == "<template>"
    assert lookup(context) == "ten days"
    assert compile_template("{% for row in rows %}{{ row.label }}{% endfor %}")(context) == "Week 1"
    # Any other call renders in the sandbox, which answers as it always has.
    for source, expected in (
        ("{{ onset.upper() }}", "INJURY"),
        ("{{ {'a': 1}.pop('a') }}", "1"),
        ("{% for row in rows %}{{ row.get('label') }}{% endfor %}", "Week 1"),
    ):
        template = compile_template(source)
        assert template.__code__.co_filename != "<template>", source
        assert template(context) == expected
    with pytest.raises(SecurityError):
        compile_template("{{ onset.__class__.__mro__[1].__subclasses__() }}")(context)


def test_a_compiled_template_renders_on_its_own_and_leaves_only_errors_to_the_sandbox() -> None:
    sandbox = mock.patch.object(expressions, "_sandboxed", side_effect=AssertionError("no sandbox"))
    # Jinja2's implicit else is its plain Undefined: '' when written, false, equal to no value.
    source = "[{{ 'a' if flag }}]{{ 'x' if ('a' if flag) == 1 else 'y' }}{{ ('a' if flag) ~ 'b' }}"
    template = compile_template(source)
    with sandbox:
        assert template({"flag": False}) == "[]yb"
        assert template({"flag": True}) == "[a]yab"
    assert JINJA.from_string(source).render(flag=False) == "[]yb"
    # A name the context lacks, or a value the function cannot take, is the sandbox's to answer.
    assert compile_template("{{ 'yes' if missing is number else 'no' }}")({}) == "no"
    with pytest.raises(UndefinedError):
        compile_template("{% if flag %}{{ missing }}{% endif %}")({"flag": True})
    with pytest.raises(TypeError):
        compile_template("{{ (days * 0.8) | distance }}")({"days": UNKNOWN})
