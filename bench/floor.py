"""The floor for the engine benchmark: the same flow and rules as dicts and ifs, no content.

It takes picked values only (no free text) and builds short reply strings, as the engine does
for the same answers; it is what a step would cost with nothing configurable at all.
"""

from __future__ import annotations

import time
from typing import Any

ANSWERS: dict[str, Any] = {
    "red_flags": ["none"],
    "onset": "gradual",
    "days_since_onset": 30,
    "age": "17_to_54",
    "symptoms": ["none"],
    "pain_severity": 3,
    "improving": "yes",
    "pain_location": "front",
    "training_changes": ["more_miles", "hills"],
    "surface": ["road", "trail"],
    "shoe_miles": 400,
    "days_to_race": 12,
    "weekly_miles": 40,
}
ORDER = list(ANSWERS)
QUESTIONS = {fact: f"Question about {fact}?" for fact in ORDER}


def _asked(fact: str, f: dict[str, Any]) -> bool:
    if fact == "immediate_swelling":
        return f.get("onset") == "injury"
    if fact == "ottawa_signs":
        return f.get("onset") == "injury" and f.get("days_since_onset", 99) <= 7
    if fact == "child_hip_limp":
        return f.get("age") == "16_or_under"
    if fact == "improving":
        return f.get("days_since_onset", 0) >= 14
    if fact == "weekly_miles":
        race = f.get("days_to_race")
        return isinstance(race, int) and race <= 21
    return True


def _urgent(f: dict[str, Any]) -> str | None:
    flags = set(f.get("red_flags", ()))
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
    injury = f.get("onset") == "injury"
    if (
        injury
        and f.get("days_since_onset", 99) <= 7
        and (f.get("age") == "55_plus" or f.get("ottawa_signs") == "yes")
    ):
        return "U4"
    if injury and f.get("immediate_swelling") == "yes":
        return "U5"
    if f.get("age") == "16_or_under" and f.get("child_hip_limp") == "yes":
        return "U6"
    return None


def _decide(f: dict[str, Any]) -> str:
    symptoms = set(f["symptoms"])
    days, pain, improving, race = (
        f["days_since_onset"],
        f["pain_severity"],
        f.get("improving"),
        f["days_to_race"],
    )
    if "unsure" in f["red_flags"] or "unsure" in (f.get("immediate_swelling"), f.get("ottawa_signs")):
        return "P0"
    if f["onset"] == "injury":
        return "P1"
    if symptoms & {"giving_way", "catching"}:
        return "P2"
    if "swelling" in symptoms:
        return "P3"
    if (days >= 21 and pain >= 2 and improving != "yes") or (days >= 14 and improving == "no"):
        return "P4"
    if pain >= 7 or "stops_running" in symptoms:
        return "P5"
    if f["age"] == "16_or_under":
        return "P6"
    if "tingling" in symptoms:
        return "P7"
    if "knee_history" in symptoms:
        return "P8"
    if isinstance(race, int) and race <= 14 and pain >= 5:
        return "P9"
    return "S1"


def step(state: dict[str, Any], value: Any) -> tuple[dict[str, Any], str]:
    facts = dict(state["facts"])
    if state["asking"] is not None:
        facts[state["asking"]] = list(value) if isinstance(value, tuple) else value
    rule = _urgent(facts)
    if rule is None:
        for fact in ORDER:
            if fact not in facts and _asked(fact, facts):
                return {"facts": facts, "asking": fact}, QUESTIONS[fact]
        rule = _decide(facts)
    return {"facts": facts, "asking": None}, f"Outcome {rule}: see a professional. " + ", ".join(
        f"{k}: {v}" for k, v in facts.items()
    )


def floor_triage() -> list[float]:
    """Per-turn times of one whole triage through the floor machine."""
    times: list[float] = []
    state: dict[str, Any] = {"facts": {}, "asking": None}
    for value in ["start", *ANSWERS.values()]:
        started = time.perf_counter()
        state, _ = step(state, value)
        times.append(time.perf_counter() - started)
    assert state["asking"] is None
    return times
