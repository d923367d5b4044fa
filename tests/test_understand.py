"""Free-text answers of every kind, read the way a runner would type them."""

from __future__ import annotations

from typing import Any

import pytest

from bot.content import Content
from bot.contract import FACTS
from bot.understand import Misunderstood, Understood, understand
from tests.conftest import NOW  # a Tuesday


def read(content: Content, fact: str, text: str, unit: str = "miles") -> Any:
    result = understand(content.facts[fact], FACTS[fact], content.language, text=text, now=NOW, unit=unit)
    return result.value if isinstance(result, Understood) else result.reason


@pytest.mark.parametrize(
    ("fact", "text", "expected"),
    [
        # yes / no / unsure and their casual forms
        ("immediate_swelling", "yep", "yes"),
        ("immediate_swelling", "Yeah!", "yes"),
        ("immediate_swelling", "yes it swelled up straight away", "yes"),
        ("immediate_swelling", "nah", "no"),
        ("immediate_swelling", "no swelling", "no"),
        ("immediate_swelling", "not really, it swelled the next day", "no"),
        ("immediate_swelling", "dunno", "unsure"),
        ("ottawa_signs", "I don't know", "unsure"),
        ("child_hip_limp", "nope", "no"),
        ("improving", "not better", "no"),
        ("improving", "a bit better", "yes"),
        ("improving", "hard to say", "unsure"),
        # single choices by number, words, synonyms and misspellings
        ("onset", "1", "injury"),
        ("onset", "I twisted it playing football", "injury"),
        ("onset", "heard a pop", "injury"),
        ("onset", "gradualy", "gradual"),
        ("onset", "it just crept up over a few weeks", "gradual"),
        ("age", "I'm 34", "17_to_54"),
        ("age", "16", "16_or_under"),
        ("age", "60 years old", "55_plus"),
        ("age", "3", "55_plus"),
        ("pain_location", "behind the kneecap", "front"),
        ("pain_location", "outside", "outer"),
        ("pain_location", "frnt", "front"),
        ("pain_location", "below my kneecap", "below_kneecap"),
        ("red_flags", "I can't put any weight on it", ["cannot_bear_weight"]),
        ("red_flags", "my kneecap looks like it's in the wrong place", ["deformity"]),
        ("red_flags", "my calf is really swollen", ["calf_swelling"]),
        ("red_flags", "no red flags", ["none"]),
        # multi choices
        ("red_flags", "nope", ["none"]),
        ("red_flags", "none of these", ["none"]),
        ("red_flags", "1, 3", ["deformity", "calf_swelling"]),
        ("red_flags", "1 and 5", ["deformity", "cannot_bear_weight"]),
        ("red_flags", "my kneecap popped out", ["deformity"]),
        ("red_flags", "cant walk on it and it's locked", ["cannot_bear_weight", "locked"]),
        ("red_flags", "no fever, nothing like that", ["none"]),
        ("red_flags", "not sure", ["unsure"]),
        ("red_flags", "maybe locked?", ["locked"]),  # a hedge beside a sign adds nothing: U3 either way
        ("red_flags", "none, but my foot is cold", ["foot_numb_cold"]),
        ("symptoms", "gives way sometimes and clicks", ["giving_way", "catching"]),
        ("symptoms", "no swelling but it gives way", ["giving_way"]),
        ("symptoms", "swolen", ["swelling"]),
        ("training_changes", "hills and more miles", ["more_miles", "hills"]),
        ("training_changes", "hils", ["hills"]),
        ("training_changes", "nothing changed", ["none"]),
        ("surface", "road and trail", ["road", "trail"]),
        ("surface", "1 3", ["road", "trail"]),
        # numbers in digits and words
        ("pain_severity", "6/10", 6),
        ("pain_severity", "like a 6", 6),
        ("pain_severity", "seven", 7),
        ("pain_severity", "about a six out of ten", 6),
        ("pain_severity", "7 or 8", 8),
        ("pain_severity", "6.5", 6.5),
        ("pain_severity", "mild", 3),
        ("pain_severity", "no pain at all", 0),
        # durations, back from now (a Tuesday)
        ("days_since_onset", "3 wks", 21),
        ("days_since_onset", "about 3 weeks", 21),
        ("days_since_onset", "since last Tuesday", 7),
        ("days_since_onset", "since Monday", 1),
        ("days_since_onset", "a fortnight", 14),
        ("days_since_onset", "yesterday", 1),
        ("days_since_onset", "a couple of months", 60),
        ("days_since_onset", "3-4 weeks", 21),
        ("days_since_onset", "2 weeks and 3 days", 17),
        ("days_since_onset", "twenty one days ago", 21),
        ("days_since_onset", "Nov 3", 21),
        ("days_since_onset", "last week", 7),
        ("days_since_onset", "5 hours ago", 0),
        # durations ahead
        ("days_to_race", "in 12 days", 12),
        ("days_to_race", "2026-12-13", 19),
        ("days_to_race", "Dec 13th", 19),
        ("days_to_race", "13 December", 19),
        ("days_to_race", "next Saturday", 4),
        ("days_to_race", "tomorrow", 1),
        ("days_to_race", "no race", "none"),
        ("days_to_race", "none", "none"),
        # distances, stored in miles
        ("weekly_miles", "50k a week", 31),
        ("weekly_miles", "64km", 40),
        ("weekly_miles", "forty", 40),
        ("weekly_miles", "about 25 miles", 25),
        ("weekly_miles", "not sure", "unsure"),
        ("shoe_miles", "brand new", 0),
        ("shoe_miles", "one hundred and fifty", 150),
        ("shoe_miles", "dunno", "unsure"),
    ],
)
def test_free_text(content: Content, fact: str, text: str, expected: Any) -> None:
    assert read(content, fact, text) == expected


def test_bare_distance_is_in_the_clubs_unit(content: Content) -> None:
    assert read(content, "weekly_miles", "64", unit="km") == 40
    assert read(content, "weekly_miles", "40 miles", unit="km") == 40


@pytest.mark.parametrize(
    ("fact", "text", "reason"),
    [
        ("red_flags", "", "unclear"),
        ("red_flags", "asdfgh", "unclear"),
        ("red_flags", "none but blah blah", "unclear"),  # `none` beside words we can't place
        ("onset", "no idea", "unclear"),
        ("onset", "banana", "unclear"),
        ("immediate_swelling", "yes and no", "unclear"),
        ("pain_severity", "banana", "unclear"),
        ("pain_severity", "15", "out_of_range"),
        ("pain_severity", "-2", "out_of_range"),
        ("days_since_onset", "not sure", "unclear"),
        ("days_since_onset", "-5", "out_of_range"),
        ("days_to_race", "2025-01-01", "out_of_range"),
        ("weekly_miles", "400", "out_of_range"),
        ("surface", "on the moon", "unclear"),
    ],
)
def test_what_cannot_be_read_is_never_guessed(content: Content, fact: str, text: str, reason: str) -> None:
    assert read(content, fact, text) == reason


def test_huge_text_is_read_without_trouble(content: Content) -> None:
    result = understand(
        content.facts["red_flags"], FACTS["red_flags"], content.language, text="x" * 100_000, now=NOW
    )
    assert isinstance(result, Misunderstood)


def test_picked_values_are_checked_against_the_choices(content: Content) -> None:
    def pick(fact: str, value: Any) -> Any:
        result = understand(content.facts[fact], FACTS[fact], content.language, value=value, now=NOW)
        return result.value if isinstance(result, Understood) else result.reason

    assert pick("onset", "injury") == "injury"
    assert pick("onset", "Injury") == "injury"  # read as words when not an exact value
    assert pick("red_flags", ("none", "locked")) == ["locked"]  # a flag beats `none`
    assert pick("red_flags", ("unsure", "none")) == ["unsure"]
    assert pick("red_flags", "none") == ["none"]
    assert pick("days_to_race", "none") == "none"
    assert pick("days_to_race", 12) == 12
    assert pick("days_since_onset", 6.6) == 7
    assert pick("pain_severity", 6.5) == 6.5
    assert pick("pain_severity", 11) == "out_of_range"
    assert pick("pain_severity", True) == "unclear"
    assert pick("shoe_miles", "none") == "unclear"  # `none` is not one of its words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not sure and the knee looks out of shape", ["deformity"]),
        ("no, it's locked", ["locked"]),
        ("nope. can't walk on it", ["cannot_bear_weight"]),
        ("no fever but my calf is swollen", ["calf_swelling"]),
        ("none, though I can't straighten it", ["cannot_straighten_leg"]),
    ],
)
def test_a_negation_never_hides_a_red_flag_from_another_clause(
    content: Content, text: str, expected: list[str]
) -> None:
    assert read(content, "red_flags", text) == expected


def test_a_weekday_said_with_its_date_is_that_date_and_is_checked_against_it(content: Content) -> None:
    """`sunday the 6th` is the 6th (Sunday 6 December from Tuesday 24 November), not this Sunday;
    a weekday that is not that date's (`monday the 6th`) is checked with the runner first."""
    days_to_race = content.facts["days_to_race"]

    def reading(text: str) -> Understood | Misunderstood:
        return understand(days_to_race, FACTS["days_to_race"], content.language, text=text, now=NOW)

    for text in ("sunday the 6th", "Sun 6th", "sunday 6th december"):
        assert reading(text) == Understood(12, from_text=True), text
    assert reading("monday the 6th") == Understood(12, from_text=True, confirm=True)
    assert reading("sunday") == Understood(5, from_text=True)
