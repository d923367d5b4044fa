"""One whole triage per rule of clinical.md, through `kneebot chat --json` as a subprocess."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.transcript import Bot, triage

# A runner with nothing worrying: gradual pain, no warning signs, mild and short-lived.
CALM: dict[str, Any] = {
    "red_flags": ["none"],
    "onset": "gradual",
    "days_since_onset": 10,
    "age": "17_to_54",
    "symptoms": ["none"],
    "pain_severity": 3,
    "pain_location": "front",
    "training_changes": ["more_miles"],
    "surface": ["road"],
    "shoe_miles": 200,
    "days_to_race": "none",
}
INJURY = {**CALM, "onset": "injury", "immediate_swelling": "no", "ottawa_signs": "no"}

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("U1", "deformity", {**CALM, "red_flags": ["deformity"]}),
    ("U1", "numb foot", {**CALM, "red_flags": ["foot_numb_cold", "none"]}),
    ("U2", "calf", {**CALM, "red_flags": ["calf_swelling"]}),
    ("U3", "fever", {**CALM, "red_flags": ["hot_red_fever"]}),
    ("U3", "weight", {**CALM, "red_flags": ["cannot_bear_weight"]}),
    ("U3", "locked", {**CALM, "red_flags": ["locked"]}),
    ("U3", "straight leg", {**CALM, "red_flags": ["cannot_straighten_leg"]}),
    ("U3", "night pain", {**CALM, "red_flags": ["night_pain_weight_loss", "unsure"]}),
    ("U4", "55 plus", {**INJURY, "days_since_onset": 3, "age": "55_plus"}),
    ("U4", "ottawa", {**INJURY, "days_since_onset": 7, "ottawa_signs": "yes"}),
    ("U5", "swelled", {**INJURY, "days_since_onset": 20, "immediate_swelling": "yes"}),
    ("U6", "hip limp", {**CALM, "age": "16_or_under", "child_hip_limp": "yes"}),
    ("P0", "unsure flag", {**CALM, "red_flags": ["unsure"]}),
    ("P0", "unsure swelling", {**INJURY, "immediate_swelling": "unsure"}),
    ("P0", "unsure ottawa", {**INJURY, "days_since_onset": 2, "ottawa_signs": "unsure"}),
    ("P0", "unsure limp", {**CALM, "age": "16_or_under", "child_hip_limp": "unsure"}),
    ("P1", "injury", {**INJURY, "days_since_onset": 12}),
    ("P1", "older, injury 8 days ago", {**INJURY, "days_since_onset": 8, "age": "55_plus"}),
    ("P2", "giving way", {**CALM, "symptoms": ["giving_way"]}),
    ("P2", "catching", {**CALM, "symptoms": ["catching"]}),
    ("P3", "swelling", {**CALM, "symptoms": ["swelling"]}),
    ("P4", "not improving", {**CALM, "days_since_onset": 30, "improving": "unsure"}),
    ("P4", "worse", {**CALM, "days_since_onset": 15, "improving": "no"}),
    ("P4", "mild but lasting", {**CALM, "days_since_onset": 21, "pain_severity": 2, "improving": "unsure"}),
    ("P5", "severe", {**CALM, "pain_severity": 7}),
    ("P5", "stops runs", {**CALM, "symptoms": ["stops_running"]}),
    ("P6", "young", {**CALM, "age": "16_or_under", "child_hip_limp": "no"}),
    ("P7", "tingling", {**CALM, "symptoms": ["tingling"]}),
    ("P8", "history", {**CALM, "symptoms": ["knee_history"]}),
    (
        "P9",
        "race soon",
        {**CALM, "pain_severity": 5, "days_to_race": 14, "race_distance": "half", "weekly_miles": 30},
    ),
    ("S1", "calm", CALM),
    ("S1", "improving", {**CALM, "days_since_onset": 40, "improving": "yes"}),
    ("S1", "barely sore", {**CALM, "days_since_onset": 30, "pain_severity": 1, "improving": "unsure"}),
    ("S1", "not worse yet", {**CALM, "days_since_onset": 20, "improving": "unsure"}),
    (
        "S1",
        "race later",
        {**CALM, "pain_severity": 5, "days_to_race": 15, "race_distance": "other", "weekly_miles": 30},
    ),
]
LEVELS = {"U": "urgent", "P": "see_professional", "S": "self_care"}
TRAINING_WORDS = (
    "strength",
    "taper",
    "foam",
    "stride",
    "warm up",
    "warm-up",
    "cross-train",
    "hills",
    "mileage",
)


@pytest.mark.parametrize(
    ("rule", "answers"), [(r, a) for r, _, a in CASES], ids=[f"{r}-{n}" for r, n, _ in CASES]
)
def test_each_rule_reaches_its_outcome(bot: Callable[..., Bot], rule: str, answers: dict[str, Any]) -> None:
    runner = bot()
    message, asked = triage(runner, answers)
    outcome = message["outcome"]
    assert (outcome["level"], outcome["rule"]) == (LEVELS[rule[0]], rule)
    assert asked[0] == "red_flags", "the red-flag screen comes first"
    text = message["text"]
    assert outcome["text"] == text
    assert "not a clinician" in text
    assert "not a diagnosis" in text
    summary = runner.received[-1]["text"]  # on the wire, the summary comes after the outcome
    assert summary.startswith("**Your answers**"), "the answers follow as their own message"
    assert "- Warning signs:" in summary
    if rule.startswith("U"):
        assert len(text.split()) <= 150
        assert text.lower().count("911 (us), 999 (uk) or 112 (eu)") == 1, "the number, once"
        assert "emergency department" in text.lower()
        assert "Show the doctor your answers" in text
        assert "physio" not in text.lower(), "urgent care, never a physiotherapist"
        assert outcome["advice"] == []
        for word in TRAINING_WORDS:
            assert not re.search(rf"\b{word}\b", text.lower()), f"urgent outcome mentions {word!r}"
    else:
        assert len(text.split()) <= 250
        assert "physiotherapist, sports-medicine doctor or GP" in text
        assert "**Go today, or call 911 (US), 999 (UK) or 112 (EU),**" in text
    if rule.startswith("S"):
        assert outcome["advice"], "self-care comes with advice"
        assert "2 to 3 weeks" in text  # the safety net


def test_red_flag_stops_the_triage_at_once(bot: Callable[..., Bot]) -> None:
    _, asked = triage(bot(), {**CALM, "red_flags": ["locked"]})
    assert asked == ["red_flags"]


def test_urgent_after_injury_stops_before_the_remaining_questions(bot: Callable[..., Bot]) -> None:
    _, asked = triage(bot(), {**INJURY, "days_since_onset": 3, "age": "55_plus"})
    assert asked == ["red_flags", "onset", "days_since_onset", "age"]


def test_self_care_advice_is_tailored_to_the_answers(bot: Callable[..., Bot]) -> None:
    answers = {
        **CALM,
        "training_changes": ["hills", "speed"],
        "surface": ["banked", "track"],
        "pain_location": "outer",
        "shoe_miles": 450,
        "days_to_race": 18,
        "race_distance": "marathon",
        "weekly_miles": 40,
    }
    message = triage(bot(), answers)[0]
    advice = "\n".join(message["outcome"]["advice"])
    titles = [section.split(":**", 1)[0] for section in message["outcome"]["advice"]]
    for title in (
        "**Your taper",
        "**Hills",
        "**Speed work",
        "**Outer side",
        "**Your shoes",
        "**On the track",
    ):
        assert title in titles
    # With a race within three weeks, speed work becomes strides: never "drop speed" beside a taper.
    assert "strides until the race" in advice
    assert "Drop speed" not in advice
    assert "iliotibial band" in advice
    assert "About 450 miles" in advice or "about 450 miles" in advice
    # A marathon taper from 40 miles a week, 18 days out: all three weeks, as numbers.
    assert "32-36 miles three weeks out, 24-32 miles the week before, 16-24 miles in race week" in advice
    # The message shows the most important three in full and names the topics of the rest.
    assert message["text"].count("\n- **") == 3
    assert "More for you, to look up any time:" in message["text"]


def test_calm_runner_without_changes_gets_no_load_or_taper_advice(bot: Callable[..., Bot]) -> None:
    answers = {**CALM, "training_changes": ["none"], "surface": ["treadmill"], "shoe_miles": 100}
    advice = "\n".join(triage(bot(), answers)[0]["outcome"]["advice"])
    assert "Your miles went up" not in advice
    assert "Your taper" not in advice
    assert "Your shoes" not in advice
    assert "On the treadmill" in advice
    assert "**Strength:**" in advice


def test_young_runner_is_asked_to_bring_a_parent(bot: Callable[..., Bot]) -> None:
    message, _ = triage(bot(), {**CALM, "age": "16_or_under", "child_hip_limp": "no"})
    assert "parent or carer" in message["text"]


def test_emergency_number_is_configurable(bot: Callable[..., Bot]) -> None:
    message, _ = triage(bot(KNEEBOT_EMERGENCY_NUMBER="000"), {**CALM, "red_flags": ["deformity"]})
    assert "call 000" in message["text"].lower()
    assert "911" not in message["text"]


def test_km_club_sees_km(bot: Callable[..., Bot]) -> None:
    answers = {**CALM, "days_to_race": 10, "weekly_miles": {"text": "64km"}, "pain_severity": 2}
    message, _ = triage(bot(KNEEBOT_DISTANCE_UNIT="km"), {**answers, "race_distance": "half"})
    assert "26-39 km in race week" in message["text"]
