"""What a runner reads at the end: short, built from every answer, clinically careful."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot import engine
from bot.content import Content, default_content_dir, load_content
from tests.conftest import CONSTANTS
from tests.test_content import run

SELF_CARE: dict[str, Any] = {
    "red_flags": ["none"], "onset": "gradual", "days_since_onset": 10, "age": "17_to_54",
    "symptoms": ["none"], "pain_severity": 3, "pain_location": "front", "training_changes": ["none"],
    "surface": ["road"], "shoe_miles": 150, "days_to_race": "none",
}  # fmt: skip


def advice(content: Content, **changes: Any) -> tuple[str, ...]:
    [reply, _] = engine.outcome(content, {**SELF_CARE, **changes})
    assert reply.outcome is not None
    assert reply.outcome.level == "self_care"
    return reply.outcome.advice


@pytest.mark.parametrize(
    "change",
    [
        {"days_since_onset": 3},
        {"days_since_onset": 30, "improving": "yes"}, {"days_since_onset": 60, "improving": "yes"},
        {"age": "55_plus"},
        {"training_changes": ["more_miles"]}, {"training_changes": ["hills"]},
        {"training_changes": ["speed"]}, {"training_changes": ["new_runner"]},
        {"training_changes": ["comeback"]},
        {"surface": ["track"]}, {"surface": ["trail"]}, {"surface": ["treadmill"]},
        {"shoe_miles": 10}, {"shoe_miles": 450}, {"shoe_miles": "unsure"},
        {"pain_location": "outer"}, {"pain_location": "below_kneecap"}, {"pain_location": "back"},
        {"days_to_race": 12, "race_distance": "half", "weekly_miles": 30},
    ],
    ids=repr,
)  # fmt: skip
def test_each_answer_changes_the_advice(content: Content, change: dict[str, Any]) -> None:
    assert advice(content, **change) != advice(content)


def test_the_taper_is_sized_to_the_race(content: Content) -> None:
    race = {"days_to_race": 18, "weekly_miles": 40}
    five = "\n".join(advice(content, **race, race_distance="5k_10k"))
    half = "\n".join(advice(content, **race, race_distance="half"))
    full = "\n".join(advice(content, **race, race_distance="marathon"))
    assert "the last week," in five
    assert "week before" not in five
    assert "the last 10 to 14 days" in half
    assert "24-32 miles the week before" in half
    assert "the last 2 to 3 weeks" in full
    assert "32-36 miles three weeks out" in full


def test_speed_work_and_a_taper_never_contradict(content: Content) -> None:
    text = "\n".join(advice(content, training_changes=["speed"], days_to_race=12, race_distance="half"))
    assert "Drop speed" not in text
    assert "strides until the race" in text


def test_after_an_injury_no_overuse_explanation(content: Content) -> None:
    for place in ("front", "outer", "below_kneecap"):
        [reply, _] = engine.outcome(
            content, {**SELF_CARE, "onset": "injury", "immediate_swelling": "no", "pain_location": place}
        )
        assert reply.outcome is not None
        assert reply.outcome.rule == "P1"
        assert "often linked" not in reply.text.lower()


def test_urgent_sends_to_same_day_care_once(content: Content) -> None:
    for flags in (["deformity"], ["calf_swelling"], ["locked"]):
        [reply, summary] = engine.outcome(content, {**SELF_CARE, "red_flags": flags})
        assert reply.outcome is not None
        assert reply.outcome.level == "urgent"
        assert len(reply.text.split()) <= 150
        assert reply.text.count(str(content.constants["emergency_number"])) == 1
        assert "physio" not in reply.text.lower()
        assert "if it feels like an emergency" not in reply.text.lower()
        assert summary.text.startswith("**Your answers**")


def test_no_promise_and_no_unsupported_claims(content: Content) -> None:
    everything = " ".join(a.text({**engine.context(content, SELF_CARE), "level": "self_care", "rule": "S1"})
                          for a in content.advice)  # fmt: skip
    for phrase in ("usually settles", "kind on the joints", "doubly"):
        assert phrase not in everything.lower()


def test_content_check_fails_an_outcome_over_its_budget(tmp_path: Path) -> None:
    copy = tmp_path / "content"
    shutil.copytree(default_content_dir(), copy)
    outcomes = copy / "outcomes.yaml"
    outcomes.write_text(outcomes.read_text().replace("show: 3", "show: 10"))
    result = run("content", "check", str(copy))
    assert result.returncode == 2
    assert "words, over the 250 for self_care" in result.stderr


def test_spanish_outcomes_keep_their_own_emergency_default() -> None:
    spanish = load_content(
        default_content_dir(), {k: v for k, v in CONSTANTS.items() if k != "emergency_number"}, "es"
    )
    [reply, _] = engine.outcome(spanish, {**SELF_CARE, "red_flags": ["locked"]})
    assert "112 o el número de emergencias de tu país" in reply.text
    assert "(US)" not in reply.text


def test_the_readme_shows_outcomes_as_the_engine_writes_them() -> None:
    content = load_content(default_content_dir(), {"retention_hours": 24, "unit": "miles"})
    base = {**SELF_CARE, "pain_location": "outer", "training_changes": ["more_miles", "hills"],
            "shoe_miles": 450, "days_to_race": 12, "race_distance": "half", "weekly_miles": 30}  # fmt: skip
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for facts in ({**base, "red_flags": ["locked"]}, {**base, "symptoms": ["swelling"]}, base):
        replies = engine.outcome(content, facts)
        assert f"```\n{replies[0].text}\n```" in readme, "regenerate the README's outcome examples"
    assert f"```\n{engine.outcome(content, base)[1].text}\n```" in readme
