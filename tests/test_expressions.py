"""Compiled conditions and templates answer exactly as Jinja2's sandbox would, on any facts.

Conditions made of names, constants, comparisons and `and`/`or`/`not` run as plain Python
functions, plain templates as a join, and the rest in the sandbox over a light context. Hypothesis
writes conditions and templates of every shape those paths take and compares each with Jinja2
itself, value for value, and error for error.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot.contract import FACTS, LEVELS
from bot.expressions import UNKNOWN, Special, compile_condition, compile_template
from bot.lint import candidates

JINJA = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)
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


@settings(max_examples=400, deadline=None)
@given(st.one_of(PLAIN, BLOCKS), CONTEXTS)
def test_compiled_templates_render_as_jinja_does(source: str, context: dict[str, Any]) -> None:
    template = compile_template(source)
    before = dict(context)
    expected = _outcome(lambda: JINJA.from_string(source).render(**context).strip())
    assert _outcome(lambda: template(context)) == expected, (source, context)
    assert context == before, "rendering never changes the context it is given"


def test_a_template_names_only_what_its_context_holds() -> None:
    from jinja2 import UndefinedError

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
