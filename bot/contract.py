"""The fixed fact names, kinds and values of the clinical contract (shared/clinical.md).

Content may word questions however it likes, but these names and values are what transcripts,
adapters and outside tests speak, so the content loader holds every content file to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FACTS", "LEVELS", "RED_FLAG_FACTS", "FactContract", "Kind", "Level"]

Kind = Literal["single", "multi", "number"]
Level = Literal["urgent", "see_professional", "self_care"]
LEVELS: tuple[Level, ...] = ("urgent", "see_professional", "self_care")

YES_NO_UNSURE = ("yes", "no", "unsure")


@dataclass(frozen=True)
class FactContract:
    kind: Kind
    values: tuple[str, ...] = ()
    """Choice values (single, multi) or the words a number fact also accepts (none, unsure)."""
    low: float = 0
    high: float = 0


FACTS: dict[str, FactContract] = {
    "red_flags": FactContract(
        "multi",
        (
            "deformity",
            "foot_numb_cold",
            "calf_swelling",
            "hot_red_fever",
            "cannot_bear_weight",
            "locked",
            "cannot_straighten_leg",
            "night_pain_weight_loss",
            "none",
            "unsure",
        ),
    ),
    "onset": FactContract("single", ("injury", "gradual")),
    "days_since_onset": FactContract("number", (), 0, 3650),
    "age": FactContract("single", ("16_or_under", "17_to_54", "55_plus")),
    "immediate_swelling": FactContract("single", YES_NO_UNSURE),
    "ottawa_signs": FactContract("single", YES_NO_UNSURE),
    "child_hip_limp": FactContract("single", YES_NO_UNSURE),
    "symptoms": FactContract(
        "multi",
        ("giving_way", "catching", "swelling", "tingling", "stops_running", "knee_history", "none"),
    ),
    "pain_severity": FactContract("number", (), 0, 10),
    "improving": FactContract("single", YES_NO_UNSURE),
    "pain_location": FactContract("single", ("front", "outer", "inner", "below_kneecap", "back", "all_over")),
    "training_changes": FactContract(
        "multi", ("more_miles", "hills", "speed", "new_runner", "comeback", "none")
    ),
    "surface": FactContract("multi", ("road", "track", "trail", "banked", "treadmill")),
    "shoe_miles": FactContract("number", ("unsure",), 0, 5000),
    "days_to_race": FactContract("number", ("none",), 0, 3650),
    "race_distance": FactContract("single", ("5k_10k", "half", "marathon", "other")),
    "weekly_miles": FactContract("number", ("unsure",), 0, 300),
}

# Facts whose `unsure` answer leaves a red flag unanswered (rule P0).
RED_FLAG_FACTS = ("red_flags", "immediate_swelling", "ottawa_signs", "child_hip_limp")
