"""How well the bot reads runners' own words: a labelled corpus through the real engine.

A corpus file holds, per fact, what runners typed and what they meant (`3 at rest, 7 on hills
=> 7`, or `=> reask` where a careful person would ask again). Each phrase is typed into a
conversation waiting on that question, exactly as the engine would take it, and graded:

- right: the value meant was taken (or, for a phrase a careful person would ask about, the
  bot asked again);
- re-asked: the bot asked again, or asked the runner to confirm what it read;
- wrong: another value was taken, but not one that could lower the triage level;
- unsafe: a value was taken that lowers the level for some runner (a red flag read as none,
  pain read lower, a race read further away than it is).

"Lowers the level" is worked out from the content's own rules: the value meant and the value read
are each tried with every combination of the other facts those rules compare, and a reading is
unsafe when any combination ends at a less cautious level.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import nodes

from bot import engine
from bot.content import Content
from bot.contract import FACTS, LEVELS
from bot.errors import ContentError, ContentProblem
from bot.expressions import UNKNOWN, parse_condition
from bot.lint import candidates
from bot.model import Event, FactValue, State
from bot.yamlfile import line_of, load_yaml

__all__ = ["Grade", "Phrase", "Report", "evaluate", "load_corpus", "read_phrase"]

Grade = Literal["right", "reasked", "wrong", "unsafe"]
GRADES: tuple[Grade, ...] = ("right", "reasked", "wrong", "unsafe")
REASK = "reask"


@dataclass(frozen=True)
class Phrase:
    fact: str
    text: str
    expect: FactValue | None
    """What the runner meant; None when a careful person would ask again."""
    where: str


@dataclass(frozen=True)
class Corpus:
    locale: str
    now: datetime
    phrases: tuple[Phrase, ...]


@dataclass
class Report:
    counts: dict[str, Counter[Grade]] = field(default_factory=dict)
    misread: list[tuple[Phrase, Grade, str]] = field(default_factory=list)

    def add(self, phrase: Phrase, grade: Grade, shown: str) -> None:
        self.counts.setdefault(phrase.fact, Counter())[grade] += 1
        if grade != "right" and not (grade == "reasked" and phrase.expect is None):
            self.misread.append((phrase, grade, shown))

    def total(self) -> Counter[Grade]:
        return sum(self.counts.values(), Counter())

    def table(self) -> str:
        rows: list[tuple[str, ...]] = [("fact", "phrases", "right", "re-asked", "wrong", "unsafe", "% right")]
        for fact in [f for f in FACTS if f in self.counts]:
            rows.append(self._row(fact, self.counts[fact]))
        rows.append(self._row("all", self.total()))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        return "\n".join(lines)

    @staticmethod
    def _row(name: str, counts: Counter[Grade]) -> tuple[str, ...]:
        total = sum(counts.values())
        right = 100 * counts["right"] / total if total else 0.0
        return (name, str(total), *(str(counts[g]) for g in GRADES), f"{right:.1f}")


def load_corpus(path: Path) -> Corpus:
    """Read one corpus file; a malformed one raises ContentError naming the file and line."""
    try:
        data, lines = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ContentError([ContentProblem(str(path), None, f"cannot read this corpus: {exc}")]) from None
    problems: list[ContentProblem] = []
    if not isinstance(data, dict) or not isinstance(data.get("phrases"), dict):
        raise ContentError([ContentProblem(str(path), None, "a corpus needs `now`, `locale` and `phrases`")])
    try:
        now = datetime.fromisoformat(str(data.get("now")))
    except ValueError:
        raise ContentError(
            [ContentProblem(str(path), line_of(lines, ("now",)), "`now` must be an ISO time")]
        ) from None
    phrases: list[Phrase] = []
    for fact, items in data["phrases"].items():
        if fact not in FACTS:
            problems.append(
                ContentProblem(str(path), line_of(lines, ("phrases", fact)), f"unknown fact {fact!r}")
            )
            continue
        for index, item in enumerate(items or ()):
            where = f"{path}:{line_of(lines, ('phrases', fact, index)) or '?'}"
            if not isinstance(item, str) or item.count(" => ") != 1:
                problems.append(ContentProblem(str(path), line_of(lines, ("phrases", fact, index)),
                                               f"{fact}: {item!r} is not `text => meaning`"))  # fmt: skip
                continue
            text, meaning = (part.strip() for part in item.split(" => "))
            expect = _meaning(fact, meaning)
            if isinstance(expect, str) and expect.startswith("!"):
                problems.append(
                    ContentProblem(str(path), line_of(lines, ("phrases", fact, index)), expect[1:])
                )
                continue
            phrases.append(Phrase(fact, text, expect, where))
    if problems:
        raise ContentError(problems)
    return Corpus(str(data.get("locale") or "en"), now, tuple(phrases))


def _meaning(fact: str, meaning: str) -> FactValue | None:
    contract = FACTS[fact]
    if meaning == REASK:
        return None
    if contract.kind == "number":
        if meaning in contract.values:
            return meaning
        try:
            number = float(meaning)
        except ValueError:
            return f"!{fact}: {meaning!r} is not a number, {', '.join(contract.values) or 'or'} reask"
        return int(number) if number == int(number) else number
    values = [v.strip() for v in meaning.split(",")]
    unknown = [v for v in values if v not in contract.values]
    if unknown or not values or (contract.kind == "single" and len(values) != 1):
        return f"!{fact}: {meaning!r} is not one of {', '.join(contract.values)} (or reask)"
    return values if contract.kind == "multi" else values[0]


def read_phrase(content: Content, fact: str, text: str, now: datetime) -> tuple[str, FactValue | None]:
    """Type `text` into a conversation waiting on `fact`: ("read", value), ("confirm", value) or
    ("reask", None), exactly as the engine takes it."""
    state = State(asking=fact, content=content.version, started=now.timestamp(), updated=now.timestamp())
    result = engine.step(content, state, Event("text", now, text=text))
    after = result.state
    if after is not None and fact in after.facts:
        return "read", after.facts[fact]
    if after is not None and after.pending is not None:
        return "confirm", after.pending
    return "reask", None


def grade(content: Content, phrase: Phrase, how: str, value: FactValue | None) -> Grade:
    if how != "read":
        return "right" if phrase.expect is None and how == "reask" else "reasked"
    assert value is not None
    if phrase.expect is None:
        return "unsafe" if _least_cautious(content, phrase.fact, value) else "wrong"
    if _same(phrase.fact, phrase.expect, value):
        return "right"
    return "unsafe" if _lowers(content, phrase.fact, phrase.expect, value) else "wrong"


def _same(fact: str, expect: FactValue, value: FactValue) -> bool:
    if isinstance(expect, list) and isinstance(value, list):
        return set(expect) == set(value)
    if isinstance(expect, int | float) and isinstance(value, int | float):
        # Distances go through a unit and rounding: a mile either way is the same answer.
        slack = 1 if fact in ("shoe_miles", "weekly_miles") else 0
        return abs(expect - value) <= slack
    return expect == value


def _least_cautious(content: Content, fact: str, value: FactValue) -> bool:
    """A value taken from a phrase that should have been asked again is unsafe when it is the
    value that could never raise the level (a red flag's `none`, a warning sign's `no`)."""
    careful = {c.value for c in content.facts[fact].choices if c.careful} if fact in content.facts else set()
    if isinstance(value, list):
        return bool(value) and set(value) <= careful
    return isinstance(value, str) and value in careful


def _lowers(content: Content, fact: str, expect: FactValue, value: FactValue) -> bool:
    rank = {level: index for index, level in enumerate(LEVELS)}
    for others in _situations(content, fact):
        meant = engine.decide(content, {**others, fact: expect}).level
        taken = engine.decide(content, {**others, fact: value}).level
        if rank[taken] > rank[meant]:
            return True
    return False


def _situations(content: Content, fact: str) -> Iterator[dict[str, FactValue]]:
    """Every combination of the other facts that the rules naming `fact` compare, in which the
    flow would ask about `fact` at all (swelling is only asked after an injury)."""
    step = next((s for s in content.steps if s.ask == fact), None)
    asked_when = step.where.source if step is not None and step.when is not None else ""
    for rule in content.rules:
        names = _names(rule.where.source)
        if fact not in names:
            continue
        sources = (rule.where.source, asked_when) if asked_when else (rule.where.source,)
        others = sorted(set().union(*map(_names, sources)) - {fact})
        compared = _numbers(sources)
        choices = [list(candidates(name, compared)) for name in others]
        for combo in itertools.islice(itertools.product(*choices), 5000):
            situation = {name: v for name, v in zip(others, combo, strict=True) if v is not UNKNOWN}
            if step is None or step.when is None or step.when(engine.context(content, situation)):
                yield situation


@lru_cache(maxsize=256)
def _names(source: str) -> frozenset[str]:
    return frozenset(n.name for n in parse_condition(source).find_all(nodes.Name)) & set(FACTS)


def _numbers(sources: tuple[str, ...]) -> set[Any]:
    return {
        c.value
        for source in sources
        for c in parse_condition(source).find_all(nodes.Const)
        if isinstance(c.value, int | float)
    }


def evaluate(content_for: Any, paths: Iterable[Path]) -> Report:
    """Grade every phrase of every corpus; `content_for(locale)` gives the content to read with."""
    report = Report()
    for path in paths:
        corpus = load_corpus(path)
        content = content_for(corpus.locale)
        for phrase in corpus.phrases:
            how, value = read_phrase(content, phrase.fact, phrase.text, corpus.now)
            report.add(phrase, grade(content, phrase, how, value), _shown(how, value))
    return report


def _shown(how: str, value: FactValue | None) -> str:
    if how == "reask":
        return "re-asked"
    text = ", ".join(value) if isinstance(value, list) else str(value)
    return f"{'confirm ' if how == 'confirm' else ''}{text}"


def misreadings(report: Report, grades: tuple[Grade, ...] = ("unsafe", "wrong")) -> str:
    """The phrases graded as any of `grades` (re-asked ones only when they meant a value)."""
    lines = []
    for phrase, graded, shown in report.misread:
        if graded in grades:
            meant = REASK if phrase.expect is None else phrase.expect
            lines.append(
                f"{graded:6} {phrase.where}  {phrase.fact}: {phrase.text!r} meant {meant}, read {shown}"
            )
    return "\n".join(lines)
