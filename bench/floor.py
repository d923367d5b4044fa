"""The floor for the engine benchmark: the same flow and rules as dicts and ifs, no content.

The rules and the flow's conditions are the hand-written oracle the tests hold the engine to.
It takes picked values only (no free text) and builds short reply strings; it is what a step
would cost with nothing configurable at all.
"""

from __future__ import annotations

import time
from typing import Any

from tests.test_rules_property import ORDER, asked_when, professional, urgent

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
    "race_distance": "half",
    "weekly_miles": 40,
}
QUESTIONS = {fact: f"Question about {fact}?" for fact in ORDER}


def step(state: dict[str, Any], value: Any) -> tuple[dict[str, Any], str]:
    facts = dict(state["facts"])
    if state["asking"] is not None:
        facts[state["asking"]] = list(value) if isinstance(value, tuple) else value
    rule = urgent(facts)
    if rule is None:
        for fact in ORDER:
            if fact not in facts and asked_when(fact, facts):
                return {"facts": facts, "asking": fact}, QUESTIONS[fact]
        rule = professional(facts) or "S1"
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
