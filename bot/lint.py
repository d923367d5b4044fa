"""Lints for a content folder that loads: steps never asked, rules that can never fire.

A condition is tried against every combination of the values that could matter to it: each
choice of the facts it names, and for numbers the constants it compares with, one either side,
the ends of the range and the words the fact allows. A condition that holds for none of them can
never hold for a runner.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from jinja2 import nodes

from bot.content import Content, Where
from bot.contract import FACTS
from bot.errors import ContentProblem
from bot.expressions import UNKNOWN, Condition, Special, parse_condition

__all__ = ["can_hold", "lint"]

_LIMIT = 50_000


def lint(content: Content) -> list[ContentProblem]:
    problems: list[ContentProblem] = []
    for step in content.steps:
        if step.when is not None and not can_hold(step.when, step.where, content):
            problems.append(
                ContentProblem(step.where.file, step.where.line, f"step {step.ask!r} can never be asked: "
                               f"its condition {step.where.source!r} never holds")
            )  # fmt: skip
    for rule in content.rules[:-1]:
        if not can_hold(rule.when, rule.where, content):
            problems.append(
                ContentProblem(rule.where.file, rule.where.line, f"rule {rule.id!r} can never fire: "
                               f"its condition {rule.where.source!r} never holds")
            )  # fmt: skip
    return problems


def can_hold(condition: Condition, where: Where, content: Content, known: set[str] | None = None) -> bool:
    """Whether the condition holds for some runner, knowing only the facts in `known` (all if None)."""
    tree = parse_condition(where.source)
    names = sorted({n.name for n in tree.find_all(nodes.Name)} & (set(FACTS) if known is None else known))
    numbers = {c.value for c in tree.find_all(nodes.Const) if isinstance(c.value, int | float)}
    choices = [list(_candidates(name, numbers)) for name in names]
    base: dict[str, Any] = {**content.constants, **dict.fromkeys(FACTS, UNKNOWN)}
    for count, combo in enumerate(itertools.product(*choices)):
        if count >= _LIMIT:
            return True  # too many to try: give it the benefit of the doubt
        try:
            if condition({**base, **dict(zip(names, combo, strict=True))}):
                return True
        except Exception:
            continue
    return False


def _candidates(fact: str, numbers: set[Any]) -> Iterator[Any]:
    contract = FACTS[fact]
    yield UNKNOWN
    if contract.kind == "single":
        yield from contract.values
    elif contract.kind == "multi":
        yield from ([value] for value in contract.values)
        yield [value for value in contract.values if value not in ("none", "unsure")]
    else:
        edges = {contract.low, contract.high} | {n + d for n in numbers for d in (-1, 0, 1)}
        yield from sorted(n for n in edges if contract.low <= n <= contract.high)
        yield from (Special(word) for word in contract.values)
