"""Nonsense, empty, hostile and oversized input: a re-ask every time, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.transcript import Bot

HOSTILE = [
    "",
    "   ",
    "asdf qwerty",
    "x" * 10_000,
    "<!channel> <!here> @everyone @here <@U123>",
    "{{ config.items() }} {% for x in y %}{{ x }}{% endfor %}",
    "**bold** _it_ [link](http://example.com)",
    "\u0000\u202e\U0001f9b5",
]
UNREADABLE_LINES = [
    "not json at all",
    "[1, 2, 3]",
    "42",
    '{"value": true}',
    '{"value": null}',
    '{"value": {"nested": 1}}',
    '{"value": [1, 2]}',
    '{"command": "explode"}',
    '{"text": 5}',
    "{}",
]


def _at(bot: Bot, fact: str) -> None:
    """Walk a fresh bot to the question that fills `fact`."""
    answers = {
        "red_flags": ["none"],
        "onset": "gradual",
        "days_since_onset": 10,
        "age": "17_to_54",
        "symptoms": ["none"],
    }
    bot.read_turn()
    message = bot.send({"value": "start"})[-1]
    while message["fact"] != fact:
        message = bot.send({"value": answers[message["fact"]]})[-1]


@pytest.mark.parametrize("fact", ["red_flags", "onset", "days_since_onset", "pain_severity"])
def test_nonsense_gets_a_reask_of_the_same_question(bot: Callable[..., Bot], fact: str) -> None:
    runner = bot()
    _at(runner, fact)
    for text in HOSTILE:
        turn = runner.send({"text": text})
        assert turn[-1]["fact"] == fact, f"{text[:20]!r} moved the conversation on"
    for line in UNREADABLE_LINES:
        turn = runner.send(line)
        assert turn[-1]["fact"] == fact
        assert "couldn't read" in turn[-1]["text"] or "Sorry" in turn[-1]["text"]
    assert runner.close() == 0
    echoed = json.dumps(runner.received)
    for marker in ("<!channel>", "@everyone", "<@U123>", "config.items", "x" * 100):
        assert marker not in echoed, f"{marker[:20]!r} was echoed back"


def test_blank_lines_are_ignored_and_the_triage_goes_on(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send('\n\n\n{"value": "start"}')
    turn = runner.send({"value": ["none"]})
    assert turn[-1]["fact"] == "onset"


def test_commands_work_at_any_time(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    runner.send({"value": ["none"]})
    turn = runner.send({"command": "restart"})
    assert turn[-1]["fact"] == "red_flags"
    assert "starting over" in turn[-1]["text"].lower()
    turn = runner.send({"text": "forget"})
    assert "deleted everything" in turn[-1]["text"]
    assert turn[-1]["fact"] is None
    turn = runner.send({"text": "start"})
    assert turn[-1]["fact"] == "red_flags"


def test_an_answer_to_an_earlier_question_is_left_out(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    runner.send({"value": ["none"]})
    turn = runner.send({"fact": "red_flags", "value": ["locked"]})
    assert turn[-1]["fact"] == "onset"
    assert "earlier question" in turn[-1]["text"]


def test_after_the_outcome_the_runner_can_start_again(bot: Callable[..., Bot]) -> None:
    runner = bot()
    runner.read_turn()
    runner.send({"value": "start"})
    outcome = runner.send({"value": ["deformity"]})[-1]
    assert outcome["outcome"]["level"] == "urgent"
    turn = runner.send({"text": "what now?"})
    assert turn[-1]["fact"] is None
    assert [c["value"] for c in turn[-1]["choices"]] == ["start"]
    assert runner.send({"value": "start"})[-1]["fact"] == "red_flags"


HUGE = "9" * 309  # past the largest float: `float()` gives infinity


@pytest.mark.parametrize("fact", ["days_since_onset", "age", "pain_severity"])
def test_numbers_of_any_length_are_reasked(bot: Callable[..., Bot], fact: str) -> None:
    runner = bot()
    _at(runner, fact)
    said = [HUGE, f"-{HUGE}", f"{HUGE} weeks", f"{HUGE}.5 days", " ".join(["thousand"] * 120) + " days"]
    for text in said:
        turn = runner.send({"text": text})
        assert turn[-1]["fact"] == fact, f"{text[:20]!r} moved the conversation on"
        assert "went wrong" not in turn[-1]["text"], f"{text[:20]!r} raised"
    for line in (f'{{"value": {HUGE}}}', '{"value": 1e999}', '{"value": -1e999}', '{"value": NaN}'):
        turn = runner.send(line)
        assert turn[-1]["fact"] == fact, f"{line[:20]!r} moved the conversation on"
        assert "went wrong" not in turn[-1]["text"], f"{line[:20]!r} raised"
    assert runner.close() == 0
    assert "Traceback" not in runner.stderr()
