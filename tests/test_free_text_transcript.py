"""A whole triage typed in a runner's own words, through `kneebot chat --json`."""

from __future__ import annotations

from collections.abc import Callable

from tests.transcript import Bot


def test_a_triage_in_plain_words(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    said = [
        ("ok let's go", "red_flags"),
        ("nope, none of those", "onset"),
        ("it just crept up over a few runs", "days_since_onset"),
        ("about 3 wks", "age"),
        ("I'm 34", "symptoms"),
        ("nothing else", "pain_severity"),
        ("like a 6", "improving"),
        ("nah, about the same", "pain_location"),
        ("around the kneecap", "training_changes"),
        ("more miles and some hills", "surface"),
        ("mostly roads", "shoe_miles"),
        ("dunno", "days_to_race"),
        ("in 12 days", "race_distance"),
        ("a half", "weekly_miles"),
    ]
    for text, next_fact in said:
        message = runner.send({"text": text})[-1]
        assert message["fact"] == next_fact, f"after {text!r}: {message['text']}"
    outcome = runner.send({"text": "50k a week"})[-1]
    assert outcome["outcome"]["level"] == "see_professional"
    assert outcome["outcome"]["rule"] == "P4"  # 21 days, pain 6, not improving
    assert "Got it: 31 miles a week." in outcome["text"]
    summary = runner.received[-1]["text"]  # the answers follow the outcome as their own message
    for line in ("- Started: 21 days ago", "- Pain at its worst: 6/10", "- Next race: in 12 days"):
        assert line in summary
    assert "- Race distance: Half marathon" in summary
    assert "- Usual weekly distance: 31 miles a week" in summary


def test_unclear_words_get_a_helpful_reask(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    message = runner.send({"text": "my knee is kind of meh"})[-1]
    assert message["fact"] == "red_flags"
    assert "like `1, 3`" in message["text"], "the re-ask says how to answer"
    runner.send({"value": ["none"]})
    runner.send({"value": "gradual"})
    message = runner.send({"text": "a while"})[-1]
    assert message["fact"] == "days_since_onset"
    assert "number of days or weeks" in message["text"]
    message = runner.send({"text": "9000 days"})[-1]
    assert message["fact"] == "days_since_onset"
    assert "from 0 to 3650" in message["text"]
