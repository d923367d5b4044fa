"""Generated runners, checked against an independent reading of clinical.md.

The oracle below is written from the clinical contract, not from the content files: the flow's
ask-conditions and the ordered rules, with the stop-at-first-urgent-rule behaviour. Hypothesis
draws whole sets of answers; the engine must reach the same rule for every one of them, and no
runner who reported a red flag may ever be told to self-treat.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import engine
from bot.content import Content
from bot.contract import FACTS
from bot.model import Event, State
from tests.conftest import NOW

FLAGS = [v for v in FACTS["red_flags"].values if v not in ("none", "unsure")]
# Calm answers are drawn more often, so the later, milder rules get their turn too.
YNU = st.sampled_from(["yes", "no", "no", "no", "unsure"])


def _multi(values: list[str], none: bool = True) -> st.SearchStrategy[list[str]]:
    some = st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)
    return st.one_of(st.just(["none"]), st.just(["none"]), some) if none else some


def _near(*edges: int, top: int) -> st.SearchStrategy[int]:
    """Numbers around the rules' thresholds most of the time, anything in range otherwise."""
    around = sorted({n + d for n in edges for d in (-1, 0, 1) if 0 <= n + d <= top})
    return st.one_of(st.sampled_from(around), st.integers(0, top))


RUNNERS = st.fixed_dictionaries(
    {
        "red_flags": st.one_of(
            st.just(["none"]),
            st.just(["none"]),
            st.just(["none"]),
            st.just(["unsure"]),
            st.lists(st.sampled_from([*FLAGS, "unsure"]), min_size=1, max_size=3, unique=True),
        ),
        "onset": st.sampled_from(["gradual", "gradual", "injury"]),
        "days_since_onset": _near(7, 14, 21, top=3650),
        "age": st.sampled_from(["17_to_54", "17_to_54", "55_plus", "16_or_under"]),
        "immediate_swelling": YNU,
        "ottawa_signs": YNU,
        "child_hip_limp": YNU,
        "symptoms": _multi(
            ["giving_way", "catching", "swelling", "tingling", "stops_running", "knee_history"]
        ),
        "pain_severity": _near(2, 5, 7, top=10),
        "improving": YNU,
        "pain_location": st.sampled_from(["front", "outer", "inner", "below_kneecap", "back", "all_over"]),
        "training_changes": _multi(["more_miles", "hills", "speed", "new_runner", "comeback"]),
        "surface": _multi(["road", "track", "trail", "banked", "treadmill"], none=False),
        "shoe_miles": st.one_of(st.just("unsure"), st.integers(0, 5000)),
        "days_to_race": st.one_of(st.just("none"), _near(14, 21, top=3650)),
        "race_distance": st.sampled_from(["5k_10k", "half", "marathon", "other"]),
        "weekly_miles": st.one_of(st.just("unsure"), st.integers(0, 120)),
    }
)


def asked_when(fact: str, known: dict[str, Any]) -> bool:
    injury = known.get("onset") == "injury"
    if fact == "immediate_swelling":
        return injury
    if fact == "ottawa_signs":
        return injury and known["days_since_onset"] <= 7
    if fact == "child_hip_limp":
        return known.get("age") == "16_or_under"
    if fact == "improving":
        return known["days_since_onset"] >= 14
    if fact in ("race_distance", "weekly_miles"):
        return known["days_to_race"] != "none" and known["days_to_race"] <= 21
    return True


def urgent(k: dict[str, Any]) -> str | None:
    flags = set(k.get("red_flags", []))
    injury = k.get("onset") == "injury"
    if flags & {"deformity", "foot_numb_cold"}:
        return "U1"
    if "calf_swelling" in flags:
        return "U2"
    if flags & {
        "hot_red_fever",
        "cannot_bear_weight",
        "locked",
        "cannot_straighten_leg",
        "night_pain_weight_loss",
    }:
        return "U3"
    if (
        injury
        and "days_since_onset" in k
        and k["days_since_onset"] <= 7
        and (k.get("age") == "55_plus" or k.get("ottawa_signs") == "yes")
    ):
        return "U4"
    if injury and k.get("immediate_swelling") == "yes":
        return "U5"
    if k.get("age") == "16_or_under" and k.get("child_hip_limp") == "yes":
        return "U6"
    return None


def professional(k: dict[str, Any]) -> str | None:
    symptoms = set(k["symptoms"])
    days, pain, improving = k["days_since_onset"], k["pain_severity"], k.get("improving")
    race = k["days_to_race"]
    checks = [
        (
            "P0",
            "unsure" in k["red_flags"]
            or "unsure" in {k.get(f) for f in ("immediate_swelling", "ottawa_signs", "child_hip_limp")},
        ),
        ("P1", k["onset"] == "injury"),
        ("P2", bool(symptoms & {"giving_way", "catching"})),
        ("P3", "swelling" in symptoms),
        ("P4", (days >= 21 and pain >= 2 and improving != "yes") or (days >= 14 and improving == "no")),
        ("P5", pain >= 7 or "stops_running" in symptoms),
        ("P6", k["age"] == "16_or_under"),
        ("P7", "tingling" in symptoms),
        ("P8", "knee_history" in symptoms),
        ("P9", race != "none" and race <= 14 and pain >= 5),
    ]
    return next((rule for rule, holds in checks if holds), None)


ORDER = [
    "red_flags", "onset", "days_since_onset", "age", "immediate_swelling", "ottawa_signs", "child_hip_limp",
    "symptoms", "pain_severity", "improving", "pain_location", "training_changes", "surface", "shoe_miles",
    "days_to_race", "race_distance", "weekly_miles",
]  # fmt: skip


def oracle(answers: dict[str, Any]) -> str:
    known: dict[str, Any] = {}
    for fact in ORDER:
        if not asked_when(fact, known):
            continue
        known[fact] = answers[fact]
        if (rule := urgent(known)) is not None:
            return rule
    return professional(known) or "S1"


def run_engine(content: Content, answers: dict[str, Any], as_text: bool = False) -> tuple[str, str]:
    result = engine.step(content, None, Event("answer", NOW, value="start"))
    state: State | None = result.state
    for _ in range(40):
        assert state is not None
        if state.finished:
            outcome = next(reply.outcome for reply in result.replies if reply.outcome is not None)
            assert outcome is not None
            return outcome.level, outcome.rule
        fact = state.asking
        assert fact is not None
        value = answers[fact]
        if as_text:
            event = Event("text", NOW, text=_words(content, fact, value))
        else:
            event = Event("answer", NOW, value=tuple(value) if isinstance(value, list) else value)
        result = engine.step(content, state, event)
        assert result.state is not None
        if as_text and result.state.pending is not None:
            # An unusual reading (pain 0, a race today) is checked with the runner first.
            assert result.state.pending == value
            result = engine.step(content, result.state, Event("text", NOW, text="yes"))
            assert result.state is not None
        assert result.state.asking != fact or result.state.finished, f"{fact}={value!r} was not accepted"
        state = result.state
    raise AssertionError("the triage did not end")


def _words(content: Content, fact: str, value: Any) -> str:
    """How a runner might type a value: the option's own label, or the number."""
    labels = {choice.value: choice.label for choice in content.facts[fact].choices}
    if isinstance(value, list):
        return " and ".join(labels[v] for v in value)
    return labels.get(value, str(value)) if isinstance(value, str) else str(value)


LEVEL = {"U": "urgent", "P": "see_professional", "S": "self_care"}


@settings(max_examples=1000, deadline=None)
@given(RUNNERS)
def test_engine_agrees_with_the_clinical_rules(content: Content, answers: dict[str, Any]) -> None:
    expected = oracle(answers)
    assert run_engine(content, answers) == (LEVEL[expected[0]], expected)


@settings(max_examples=150, deadline=None)
@given(RUNNERS)
def test_answering_with_the_options_words_reaches_the_same_rule(
    content: Content, answers: dict[str, Any]
) -> None:
    expected = oracle(answers)
    assert run_engine(content, answers, as_text=True) == (LEVEL[expected[0]], expected)


@settings(max_examples=300, deadline=None)
@given(RUNNERS, st.lists(st.sampled_from([*FLAGS, "unsure"]), min_size=1, max_size=4, unique=True))
def test_no_red_flag_ever_ends_in_self_care(
    content: Content, answers: dict[str, Any], flags: list[str]
) -> None:
    level, _ = run_engine(content, {**answers, "red_flags": flags})
    assert level != "self_care"
