"""Topic lookups and the taper calculator, tried as a new user would."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from bot.content import Content, default_content_dir, load_content
from bot.lookup import find_topic, lookup
from tests.conftest import CONSTANTS, NOW  # Tuesday 24 November 2026
from tests.transcript import Bot, kneebot_command


@pytest.mark.parametrize(
    ("asked", "topic"),
    [
        ("warmups", "warmups"), ("warmup", "warmups"), ("Warm-up", "warmups"), ("warm ups", "warmups"),
        ("wramup", "warmups"), ("foam", "foam_rolling"), ("foam roller", "foam_rolling"),
        ("x-train", "cross_training"), ("xtrain", "cross_training"), ("crosstraining", "cross_training"),
        ("swimming", "cross_training"), ("strenght", "strength"), ("runner's knee", "runners_knee"),
        ("causes", "runners_knee"), ("trainers", "shoes"), ("camber", "surfaces"), ("cadance", "cadence"),
        ("tapering", "taper"), ("red flags", "red_flags"), ("emergency", "red_flags"),
        ("privacy", "privacy"), ("forget me", "privacy"),
    ],
)  # fmt: skip
def test_typos_and_near_misses_find_the_topic(content: Content, asked: str, topic: str) -> None:
    found, _ = find_topic(content, asked)
    assert found is not None, asked
    assert found.id == topic


def test_an_unknown_topic_gets_suggestions_and_the_list(content: Content) -> None:
    text = lookup(content, "stretchy warmth", "", now=NOW, command="/knee").text
    assert "Did you mean" in text
    for topic in ("`warmups`", "`taper`", "`privacy`"):
        assert topic in text
    assert "/knee check" in text
    assert lookup(content, "zzzz", "", now=NOW, command="/knee").text.startswith("I don't have a page")


def test_unknown_topics_are_echoed_harmlessly(content: Content) -> None:
    text = lookup(content, "<!channel> **{{7*7}}** @everyone", "", now=NOW, command="/knee").text
    assert "<!channel>" not in text
    assert "**{{" not in text
    assert "49" not in text


def test_every_topic_ends_with_the_professional_prompt(content: Content) -> None:
    for topic in content.topics:
        text = lookup(content, topic.id, "", now=NOW, command="/knee").text
        assert text.startswith(f"**{topic.title}**")
        assert text.rstrip().endswith("can examine your knee."), topic.id
        assert "physiotherapist, sports-medicine doctor or GP" in text


def plan(content: Content, args: str) -> str:
    return lookup(content, "taper", args, now=NOW, command="/knee").text


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        # No date: the three weeks as shares of the usual week (80-90%, 60-80%, 40-60%).
        ("40", ["from 40 miles a week:", "Three weeks out: about 32-36 miles",
                "The week before: about 24-32 miles", "Race week: about 16-24 miles"]),
        ("25", ["Three weeks out: about 20-22 miles", "The week before: about 15-20 miles",
                "Race week: about 10-15 miles"]),
        ("64km", ["from 40 miles a week", "Race week: about 16-24 miles"]),
        ("fifty", ["Three weeks out: about 40-45 miles", "Race week: about 20-30 miles"]),
        # Race on Sun 13 Dec (19 days): three weeks out is under way, then Mon 30 Nov and Mon 7 Dec.
        ("40 mi 2026-12-13", ["racing Sun 13 Dec (in 19 days)", "- Three weeks out: about 32-36 miles",
                              "The week before (from Mon 30 Nov): about 24-32 miles",
                              "Race week (from Mon 7 Dec): about 16-24 miles"]),
        ("40 Dec 13", ["racing Sun 13 Dec (in 19 days)"]),
        # In 12 days (Sun 6 Dec): three weeks out is past, the week before is under way.
        ("40 in 12 days", ["racing Sun 6 Dec (in 12 days)", "- The week before: about 24-32 miles",
                           "Race week (from Mon 30 Nov): about 16-24 miles"]),
        # 30 days (Thu 24 Dec): train as usual first, every week still ahead.
        ("30 in 30 days", ["Until Thu 3 Dec: train as usual",
                           "Three weeks out (from Fri 4 Dec): about 24-27 miles",
                           "The week before (from Fri 11 Dec): about 18-24 miles",
                           "Race week (from Fri 18 Dec): about 12-18 miles"]),
        # Race this Saturday (4 days): only race week is left, under way.
        ("40 next saturday", ["racing Sat 28 Nov (in 4 days)", "- Race week: about 16-24 miles"]),
    ],
)  # fmt: skip
def test_taper_numbers(content: Content, args: str, lines: list[str]) -> None:
    text = plan(content, args)
    for line in lines:
        assert line in text, f"{line!r} not in:\n{text}"
    assert "faster running" in text
    assert "see a professional" in text


def test_taper_for_a_race_this_weekend_leaves_out_weeks_gone_by(content: Content) -> None:
    text = plan(content, "40 next saturday")
    assert "Three weeks out" not in text
    assert "The week before" not in text


def test_taper_in_km_for_a_km_club() -> None:
    content = load_content(default_content_dir(), {**CONSTANTS, "unit": "km"})
    text = plan(content, "64")
    assert "from 64 km a week" in text
    assert "Race week: about 26-38 km" in text  # 40-60% of 64 km


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ("", "Your taper"),  # no numbers: the topic itself, with how to ask
        ("in 12 days", "Tell me your usual weekly distance"),
        ("-40", "doesn't look like a usual weekly distance"),
        ("0", "doesn't look like a usual weekly distance"),
        ("400 miles a week", "doesn't look like a usual weekly distance"),
        ("40 2025-01-01", "already passed"),
        ("40 2028-06-01", "more than a year away"),
    ],
)
def test_bad_taper_input_gets_a_clear_message(content: Content, args: str, says: str) -> None:
    text = plan(content, args)
    if args:
        assert says in text
        assert "Three weeks out" not in text
    else:
        assert "taper 40" in text


def test_lookup_in_the_terminal_keeps_the_question_waiting(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    turn = runner.send({"text": "?foam"})
    assert turn[0]["text"].startswith("**Foam rolling**")
    assert turn[-1]["fact"] == "red_flags", "the question is asked again"
    assert runner.send({"value": ["none"]})[-1]["fact"] == "onset"


def test_kneebot_ask() -> None:
    result = subprocess.run(
        [*kneebot_command(), "ask", "taper", "40", "in", "12", "days"],
        capture_output=True, text=True, timeout=30, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Race week" in result.stdout
    assert "16-24 miles" in result.stdout
