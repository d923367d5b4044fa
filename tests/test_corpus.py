"""Runners' own words, measured: every labelled phrase of tests/corpus through the real engine.

No phrase may be read in a way that lowers the triage level, in any corpus. The corpora written
with the understanding code (`runners_*`) must be read right at least 90% of the time; the ones
written apart from it (`heldout_*`, `fresh_*`) show how that generalises, and `found_*` holds
every misreading once found, which must stay fixed. `safety_*`, written apart and made hard
(double negatives, irony, signs without their textbook words) on the facts that decide the level,
are held to no unsafe reading only. `kneebot content eval` prints the
same figures as a table.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot import engine
from bot.content import Content, ContentSource, default_content_dir
from bot.evaluate import Report, evaluate, load_corpus, misreadings
from bot.model import Event, FactValue
from tests.conftest import CONSTANTS
from tests.test_content import run
from tests.test_rules_property import LEVEL, oracle

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.yaml"))


@cache
def source() -> ContentSource:
    return ContentSource(default_content_dir(), CONSTANTS)


@cache
def report(name: str) -> Report:
    return evaluate(source().current, [CORPUS / name])


@pytest.mark.parametrize("name", [f.name for f in FILES])
def test_no_phrase_is_read_in_a_way_that_lowers_the_level(name: str) -> None:
    found = report(name)
    assert found.total()["unsafe"] == 0, "\n" + misreadings(found, ("unsafe",))


@pytest.mark.parametrize("name", [f.name for f in FILES if f.name.startswith("runners_")])
def test_our_corpus_is_read_right_nine_times_in_ten(name: str) -> None:
    found = report(name)
    total = found.total()
    right = total["right"] / sum(total.values())
    assert sum(total.values()) >= 250
    assert right >= 0.90, f"{right:.1%} right\n{found.table()}\n" + misreadings(found, ("wrong",))


@pytest.mark.parametrize("name", [f.name for f in FILES if f.name.startswith(("heldout_", "fresh_"))])
def test_a_corpus_written_apart_is_read_right_mostly(name: str) -> None:
    found = report(name)
    total = found.total()
    right = total["right"] / sum(total.values())
    assert right >= 0.85, f"{right:.1%} right\n{found.table()}\n" + misreadings(found, ("wrong",))


def test_every_fact_is_covered_in_both_languages() -> None:
    corpora = [load_corpus(f) for f in FILES]
    for locale in ("en", "es"):
        facts = {p.fact for corpus in corpora if corpus.locale == locale for p in corpus.phrases}
        assert facts == set(source().current(locale).facts), locale


def test_content_eval_prints_the_table_and_fails_on_an_unsafe_reading(tmp_path: Path) -> None:
    result = run("content", "eval", *map(str, FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header == ["fact", "phrases", "right", "re-asked", "wrong", "unsafe", "%", "right"]
    assert any(line.startswith("all ") for line in result.stdout.splitlines())
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'now: "2026-11-26T12:00:00+00:00"\nlocale: en\nphrases:\n  pain_severity:\n    - "3 => 7"\n'
    )
    result = run("content", "eval", str(bad))
    # Pain 3 where 7 was meant misses "see a professional" (P5): unsafe. 7 for 9 would only be wrong.
    assert result.returncode == 1
    assert "unsafe" in result.stdout
    assert "'3' meant 7, read 3" in result.stdout


def test_a_malformed_corpus_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('now: "2026-11-26T12:00:00+00:00"\nphrases:\n  pain_severity:\n    - "seven means 7"\n')
    result = run("content", "eval", str(bad))
    assert result.returncode == 2
    assert "is not `text => meaning`" in result.stderr
    assert "Traceback" not in result.stderr


# --- whole triages typed in runners' words --------------------------------------------------------


def bank(locale: str) -> dict[tuple[str, Any], list[str]]:
    """The corpus's phrases by what they mean: the words a runner could use for each answer.
    Not `safety_*`'s, written to be hard rather than typical (their jokes about a car that is
    locked are read as a locked knee, over-cautiously, and would be most of the misses here)."""
    phrases: dict[tuple[str, Any], list[str]] = defaultdict(list)
    for path in FILES:
        corpus = load_corpus(path)
        if corpus.locale != locale or path.name.startswith("safety_"):
            continue
        for phrase in corpus.phrases:
            if phrase.expect is None:
                continue
            meant = frozenset(phrase.expect) if isinstance(phrase.expect, list) else phrase.expect
            phrases[(phrase.fact, meant)].append(phrase.text)
    return phrases


NUMBER_WORDS = {
    "days_since_onset": ["{n} days", "about {n} days ago", "{n}"],
    "pain_severity": ["{n}/10", "a {n}", "{n} at its worst"],
    "shoe_miles": ["{n} miles", "{n}"],
    "days_to_race": ["in {n} days", "{n} days away"],
    "weekly_miles": ["{n} miles a week", "{n}"],
}

VIGNETTES: list[dict[str, Any]] = [
    # urgent
    {"red_flags": ["locked"]},
    {"red_flags": ["foot_numb_cold"]},
    {"red_flags": ["calf_swelling"]},
    {"red_flags": ["hot_red_fever"]},
    {"red_flags": ["cannot_bear_weight"]},
    {"red_flags": ["deformity"]},
    {"red_flags": ["night_pain_weight_loss"]},
    {"red_flags": ["cannot_straighten_leg"]},
    {"red_flags": ["none"], "onset": "injury", "days_since_onset": 2, "age": "55_plus"},
    {"red_flags": ["none"], "onset": "injury", "days_since_onset": 1, "age": "17_to_54",
     "immediate_swelling": "yes"},
    {"red_flags": ["none"], "onset": "injury", "days_since_onset": 3, "age": "17_to_54",
     "immediate_swelling": "no", "ottawa_signs": "yes"},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 10, "age": "16_or_under",
     "child_hip_limp": "yes"},
    # see a professional
    {"red_flags": ["unsure"]},
    {"red_flags": ["none"], "onset": "injury", "days_since_onset": 20, "age": "17_to_54",
     "immediate_swelling": "no"},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 30, "age": "17_to_54",
     "symptoms": ["none"], "pain_severity": 4, "improving": "no"},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 5, "age": "17_to_54",
     "symptoms": ["giving_way"]},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 5, "age": "17_to_54",
     "symptoms": ["none"], "pain_severity": 8},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 4, "age": "16_or_under",
     "child_hip_limp": "no", "symptoms": ["none"], "pain_severity": 3},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 6, "age": "17_to_54",
     "symptoms": ["none"], "pain_severity": 6, "days_to_race": 10},
    # self-care
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 7, "age": "17_to_54",
     "symptoms": ["none"], "pain_severity": 3, "days_to_race": "none"},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 21, "age": "55_plus",
     "symptoms": ["none"], "pain_severity": 2, "improving": "yes", "days_to_race": 30},
    {"red_flags": ["none"], "onset": "gradual", "days_since_onset": 14, "age": "17_to_54",
     "symptoms": ["none"], "pain_severity": 4, "improving": "yes", "days_to_race": 18},
]  # fmt: skip

DEFAULTS: dict[str, Any] = {
    "red_flags": ["none"], "onset": "gradual", "days_since_onset": 7, "age": "17_to_54",
    "immediate_swelling": "no", "ottawa_signs": "no", "child_hip_limp": "no", "symptoms": ["none"],
    "pain_severity": 3, "improving": "yes", "pain_location": "front", "training_changes": ["none"],
    "surface": ["road"], "shoe_miles": 300, "days_to_race": "none", "race_distance": "half",
    "weekly_miles": 20,
}  # fmt: skip


def typed(content: Content, phrases: dict[tuple[str, Any], list[str]], fact: str, value: Any,
          draw: random.Random, tried: set[str]) -> str | None:  # fmt: skip
    """Something a runner could type for this answer that they have not tried yet."""
    key = frozenset(value) if isinstance(value, list) else value
    options = [p for p in phrases.get((fact, key), []) if p not in tried]
    if isinstance(value, int) and fact in NUMBER_WORDS:
        options += [t.format(n=value) for t in NUMBER_WORDS[fact] if t.format(n=value) not in tried]
    return draw.choice(options) if options else None


def run_runner(content: Content, answers: dict[str, Any], draw: random.Random) -> tuple[str, list[str]]:
    phrases = bank(content.locale)
    now = load_corpus(FILES[0]).now
    result = engine.step(content, None, Event("answer", now, value="start"))
    state = result.state
    typed_in: list[str] = []
    tried: dict[str, set[str]] = defaultdict(set)
    for _ in range(120):
        assert state is not None
        if state.finished:
            outcome = next(reply.outcome for reply in result.replies if reply.outcome is not None)
            assert outcome is not None
            return outcome.level, typed_in
        fact = state.asking
        assert fact is not None
        value: FactValue = answers[fact]
        if state.pending is not None:
            meant = set(value) if isinstance(value, list) else value
            got = set(state.pending) if isinstance(state.pending, list) else state.pending
            event = Event("text", now, text="yes" if got == meant else "no")
        else:
            said = typed(content, phrases, fact, value, draw, tried[fact])
            if said is None or len(tried[fact]) >= 3:
                # After three tries a runner taps the button.
                event = Event("answer", now, value=tuple(value) if isinstance(value, list) else value)
            else:
                tried[fact].add(said)
                typed_in.append(f"{fact}: {said!r}")
                event = Event("text", now, text=said)
        result = engine.step(content, state, event)
        state = result.state
    raise AssertionError("the triage did not end")


@pytest.mark.parametrize("locale", ["en", "es"])
def test_runners_typing_their_own_words_reach_their_level(locale: str) -> None:
    content = source().current(locale)
    reached = missed = 0
    failures: list[str] = []
    for seed in range(5):
        for index, vignette in enumerate(VIGNETTES):
            answers = {**DEFAULTS, **vignette}
            expected = LEVEL[oracle(answers)[0]]
            level, said = run_runner(content, answers, random.Random(f"{seed}:{index}"))
            if level == expected:
                reached += 1
                continue
            missed += 1
            order = ["urgent", "see_professional", "self_care"]
            lowered = order.index(level) > order.index(expected)
            failures.append(f"{'LOWER' if lowered else 'higher'} {expected} -> {level}: {'; '.join(said)}")
            assert not lowered, "a runner's own words lowered the level:\n" + failures[-1]
    assert reached / (reached + missed) >= 0.95, "\n".join(failures)


def test_a_runner_typing_through_the_real_process(bot: Callable[..., Any]) -> None:
    """The same reading through `kneebot chat --json`, the entry point outside tests use."""
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    said = ["not numb but my foot is cold"]
    outcome = runner.send({"text": said[0]})[-1]
    assert outcome["outcome"]["level"] == "urgent"
    assert outcome["outcome"]["rule"] == "U1"


@pytest.mark.parametrize("name", [f.name for f in FILES if f.name.startswith("found_")])
def test_every_misreading_once_found_stays_fixed(name: str) -> None:
    found = report(name)
    total = found.total()
    assert total["right"] == sum(total.values()), "\n" + misreadings(found, ("wrong", "reasked"))
