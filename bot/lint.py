"""Lints for a content folder that loads: steps never asked, rules that can never fire.

A condition is tried against every combination of the values that could matter to it: each
choice of the facts it names, and for numbers the constants it compares with, one either side,
the ends of the range and the words the fact allows. A condition that holds for none of them can
never hold for a runner.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from jinja2 import nodes

from bot.content import FILES, Content, Where, layers
from bot.contract import FACTS
from bot.errors import ContentProblem
from bot.expressions import UNKNOWN, Condition, Special, parse_condition
from bot.yamlfile import line_of, load_yaml

__all__ = ["can_hold", "candidates", "lint", "missing_translations", "outcome_texts", "vocabulary"]

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
    choices = [list(candidates(name, numbers)) for name in names]
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


def candidates(fact: str, numbers: set[Any]) -> Iterator[Any]:
    """The values of `fact` worth trying against conditions that compare it with `numbers`."""
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


_NOT_TEXT = frozenset(
    {"value", "id", "ask", "when", "kind", "unit", "level", "note", "layout", "numbers", "topic", "priority"}
    | {"then"}
)
_NO_TEXT_FILES = ("language.yaml", "club.yaml", "flow.yaml")


def missing_translations(directory: Path) -> list[ContentProblem]:
    """Every text of the English files that a language folder beside them does not give."""
    problems: list[ContentProblem] = []
    for code in (d.name for d in sorted(directory.iterdir()) if d.is_dir()):
        folder = directory / code
        if not any((folder / name).exists() for name in FILES):
            continue
        for name in FILES:
            if name in _NO_TEXT_FILES or not (directory / name).exists():
                continue
            english, _ = load_yaml((directory / name).read_text(encoding="utf-8"))
            translated, lines = (
                (None, {})
                if not (folder / name).exists()
                else load_yaml((folder / name).read_text(encoding="utf-8"))
            )
            for path in _texts(english, translated, ()):
                shown = ".".join(str(part) for part in path)
                problems.append(
                    ContentProblem(str(folder / name), line_of(lines, path[:-1]) if lines else None,
                                   f"no {code!r} text for {shown}")
                )  # fmt: skip
    return problems


def _texts(english: Any, translated: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """Paths of English texts with nothing at the same place in the translation."""
    if isinstance(english, dict):
        for key, value in english.items():
            if key in _NOT_TEXT:
                continue
            there = translated.get(key) if isinstance(translated, dict) else None
            yield from _texts(value, there, (*path, key))
    elif isinstance(english, list) and english and all(isinstance(item, dict) for item in english):
        key = next((k for k in ("id", "value", "ask") if all(k in item for item in english)), None)
        for index, item in enumerate(english):
            match = None
            if key is not None and isinstance(translated, list):
                match = next((t for t in translated if isinstance(t, dict) and t.get(key) == item[key]), None)
            yield from _texts(item, match, (*path, item[key] if key else index))
    elif isinstance(english, str) and any(c.isalpha() for c in english) and not isinstance(translated, str):
        yield path


def vocabulary(content: Content, folder: Path | None, locale: str) -> list[ContentProblem]:
    """The words runners may type for each option, checked the way the bot reads them.

    - Round trip: every label and synonym reads back as its own option.
    - No synonym shrinks to nothing but filler once its skip words are dropped (`bit by bit` must
      not become `by`, which every sentence with "by" would match).
    - No two options of one question share a phrase.
    """
    from datetime import datetime

    from bot.understand import Understood, normalise, phrases_of, squeeze, understand

    file, lines = _facts_file(folder, locale)
    language = content.language
    now = datetime(2026, 1, 1, tzinfo=UTC)
    problems: list[ContentProblem] = []
    for fact, spec in content.facts.items():
        owner: dict[str, str] = {}
        for index, choice in enumerate(spec.choices):
            where = line_of(lines, ("facts", fact, "choices", index)) if lines else None
            for phrase in (choice.label, *choice.synonyms):
                said = normalise(phrase)
                if not said:
                    continue
                core = squeeze(said, language).split()
                own = {normalise(p) for p in phrases_of(choice, language)}
                if " ".join(core) != said and (not core or (len(core) == 1 and core[0] not in own)):
                    problems.append(ContentProblem(file, where, f"{fact}.{choice.value}: synonym {phrase!r} "
                                                   f"shrinks to {' '.join(core)!r} once its skip words are "
                                                   "dropped; reword it"))  # fmt: skip
                for key in {said, " ".join(core)}:
                    other = owner.setdefault(key, choice.value)
                    if other != choice.value:
                        problems.append(ContentProblem(file, where, f"{fact}: {phrase!r} names both "
                                                       f"{other!r} and {choice.value!r}"))  # fmt: skip
            for phrase in (choice.label, *choice.synonyms):
                if phrase in phrases_of(choice, language)[3 + len(choice.synonyms) :]:
                    continue
                read = understand(spec, FACTS[fact], language, text=phrase, now=now)
                value = read.value if isinstance(read, Understood) else None
                if not (value == choice.value or (isinstance(value, list) and choice.value in value)):
                    shown = "nothing" if value is None else repr(value)
                    problems.append(
                        ContentProblem(file, where, f"{fact}.{choice.value}: {phrase!r} reads as {shown}")
                    )
    return problems


def _facts_file(folder: Path | None, locale: str) -> tuple[str, dict[Any, int]]:
    """The facts file that last words this language's options, and its lines."""
    for layer in reversed(layers(folder, locale)):
        path = layer / "facts.yaml"
        if path.exists():
            try:
                _, lines = load_yaml(path.read_text(encoding="utf-8"))
            except Exception:
                return str(path), {}
            return str(path), lines
    return "facts.yaml", {}


def outcome_texts(content: Content, sample: int = 150) -> list[ContentProblem]:
    """Every outcome a runner can reach, rendered through the engine from a generated sample of
    answers (every rule's boundaries, every choice, the longest combinations): no message over its
    level's word budget, none without the professional prompt or the not-a-diagnosis line, every
    urgent one naming the emergency number exactly once and giving no exercise advice."""
    import random

    from bot.engine import context, outcome

    file = "outcomes.yaml"
    problems: list[ContentProblem] = []
    seen: set[str] = set()
    for facts in _sample_facts(random.Random(7), sample):
        replies = outcome(content, facts)
        first = replies[0]
        assert first.outcome is not None
        level = first.outcome.level
        words = len(first.text.split())
        budget = content.budget.get(level)
        why: list[str] = []
        if budget is not None and words > budget:
            why.append(f"{words} words, over the {budget} for {level}")
        if content.templates["disclaimer"]({**content.constants}) not in first.text:
            why.append("no not-a-diagnosis line")
        if level == "urgent":
            count = first.text.count(str(content.constants.get("emergency_number")))
            if count != 1:
                why.append(f"the emergency number {count} times, not once")
            if first.outcome.advice:
                why.append("advice in an urgent outcome")
        seen_as = {**context(content, facts), "level": level, "rule": first.outcome.rule}
        prompt = content.templates["professional"](seen_as).strip()
        if not prompt or prompt not in first.text:
            why.append("no professional prompt")
        for reason in why:
            key = f"{first.outcome.rule}: {reason}"
            if key not in seen:
                seen.add(key)
                shown = ", ".join(f"{k}={v}" for k, v in facts.items())
                problems.append(ContentProblem(file, None, f"outcome {key} (for {shown})"[:400]))
    return problems


def _sample_facts(draw: Any, count: int) -> Iterator[dict[str, Any]]:
    """Answers to every question: random ones, and the longest (every change, every surface)."""
    longest: dict[str, Any] = {
        "red_flags": ["none"], "onset": "gradual", "days_since_onset": 50, "age": "55_plus",
        "symptoms": ["none"], "pain_severity": 4, "improving": "yes", "pain_location": "outer",
        "training_changes": [v for v in FACTS["training_changes"].values if v != "none"],
        "surface": list(FACTS["surface"].values), "shoe_miles": 4999, "days_to_race": 20,
        "race_distance": "marathon", "weekly_miles": 299,
    }  # fmt: skip
    yield longest
    yield {**longest, "red_flags": ["deformity", "calf_swelling"], "age": "16_or_under"}
    for _ in range(count):
        facts: dict[str, Any] = {}
        for name, contract in FACTS.items():
            if contract.kind == "single":
                facts[name] = draw.choice(contract.values)
            elif contract.kind == "multi":
                picked = [v for v in contract.values if draw.random() < 0.3 and v not in ("none", "unsure")]
                facts[name] = picked or [draw.choice(contract.values)]
            else:
                numbers = [
                    n
                    for n in (contract.low, contract.high, 0, 7, 14, 21, 50, 300)
                    if contract.low <= n <= contract.high
                ]
                facts[name] = draw.choice([*numbers, *contract.values])
        yield facts
