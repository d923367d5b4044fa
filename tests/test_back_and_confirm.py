"""`back` takes the last answer back; an unusual reading is checked before it is taken.

Both through `kneebot chat --json`, the way a runner (or a script) types them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.test_slack import ANSWERS
from tests.transcript import Bot


def started(bot: Callable[..., Bot], **env: str) -> Bot:
    runner = bot(**env)
    runner.read_turn()
    assert runner.send({"value": "start"})[-1]["fact"] == "red_flags"
    return runner


@pytest.mark.parametrize("back", [{"text": "back"}, {"command": "back"}, {"text": "Go back"}])
def test_back_asks_the_last_question_again_and_forgets_its_answer(
    bot: Callable[..., Bot], back: dict[str, str]
) -> None:
    runner = started(bot)
    runner.send({"text": "none of those"})
    assert runner.send({"text": "I fell"})[-1]["fact"] == "days_since_onset"
    again = runner.send(back)[-1]
    assert again["fact"] == "onset"
    assert again["text"].startswith("Okay, let's take that one again.")
    # The answer taken back is gone: a new one goes in its place and the check moves on from it.
    assert runner.send({"text": "gradually over a few weeks"})[-1]["fact"] == "days_since_onset"
    assert "Got it: Gradually" in runner.received[-1]["text"]


def test_back_at_the_first_question_says_there_is_nothing_to_take_back(bot: Callable[..., Bot]) -> None:
    runner = started(bot)
    message = runner.send({"text": "back"})[-1]
    assert message["fact"] == "red_flags"
    assert "no answer to take back" in message["text"]


def test_back_after_the_outcome_reopens_the_last_question(bot: Callable[..., Bot]) -> None:
    runner = started(bot)
    outcome = runner.send({"text": "my foot is cold and pale"})[-1]
    assert outcome["outcome"]["level"] == "urgent"
    again = runner.send({"text": "back"})[-1]
    assert again["fact"] == "red_flags"
    assert again["outcome"] is None


def test_atras_in_spanish(bot: Callable[..., Bot]) -> None:
    runner = started(bot, KNEEBOT_LOCALE="es")
    runner.send({"text": "ninguna"})
    again = runner.send({"text": "atrás"})[-1]
    assert again["fact"] == "red_flags"
    assert again["text"].startswith("Vale, volvamos")


def test_a_race_today_is_checked_before_it_is_taken(bot: Callable[..., Bot]) -> None:
    runner = started(bot)
    for text in ("none", "gradual", "3 weeks", "34", "none", "4", "no", "front", "none", "road", "300"):
        runner.send({"text": text})
    assert runner.received[-1]["fact"] == "days_to_race"
    check = runner.send({"text": "it's today!"})[-1]
    assert check["fact"] == "days_to_race"
    assert check["kind"] == "single"
    assert [c["value"] for c in check["choices"]] == ["yes", "no"]
    assert "I read that as **today**" in check["text"]
    # `no` goes back to the question; a fresh answer is read afresh.
    assert runner.send({"text": "no"})[-1]["fact"] == "days_to_race"
    assert runner.send({"text": "in 12 days"})[-1]["fact"] == "race_distance"


def test_confirming_takes_the_reading(bot: Callable[..., Bot]) -> None:
    runner = started(bot)
    for text in ("none", "gradual", "3 weeks", "34", "none"):
        runner.send({"text": text})
    assert runner.received[-1]["fact"] == "pain_severity"
    check = runner.send({"text": "0"})[-1]
    assert check["fact"] == "pain_severity"
    assert "0/10" in check["text"]
    assert runner.send({"value": "yes"})[-1]["fact"] == "improving"


def test_saying_the_same_answer_again_confirms_it(bot: Callable[..., Bot]) -> None:
    """A script that answers every `pain_severity` question with its number never loops."""
    runner = started(bot)
    for text in ("none", "gradual", "3 weeks", "34", "none"):
        runner.send({"text": text})
    assert runner.send({"text": "zero"})[-1]["kind"] == "single"
    assert runner.send({"value": 0})[-1]["fact"] == "improving"


def test_back_while_a_reading_waits_drops_only_that_reading(bot: Callable[..., Bot]) -> None:
    runner = started(bot)
    for text in ("none", "gradual", "3 weeks", "34", "none"):
        runner.send({"text": text})
    runner.send({"text": "0"})
    again = runner.send({"text": "back"})[-1]
    assert again["fact"] == "pain_severity"
    assert again["kind"] == "number"
    assert runner.send({"text": "5"})[-1]["fact"] == "improving"


def test_typing_the_same_unusual_answer_twice_takes_it(bot: Callable[..., Bot]) -> None:
    runner = started(bot)
    for text in ("none", "gradual", "3 weeks", "34", "none"):
        runner.send({"text": text})
    assert runner.send({"text": "0"})[-1]["kind"] == "single"
    assert runner.send({"text": "0 honestly"})[-1]["fact"] == "improving"


def test_back_to_where_is_the_pain_is_the_back_of_the_knee(bot: Callable[..., Bot]) -> None:
    """A command's words that are also an option of the question asked are that option."""
    runner = started(bot)
    message = runner.received[-1]
    while message["fact"] != "pain_location":
        message = runner.send({"value": ANSWERS[message["fact"]]})[-1]
    moved_on = runner.send({"text": "Back."})[-1]
    assert moved_on["fact"] != "pain_location"
    assert "Got it: Back of the knee" in moved_on["text"]
    again = runner.send({"text": "go back"})[-1]
    assert again["fact"] == "pain_location", "`go back` is still the command"


@pytest.mark.parametrize(
    ("locale", "typed", "reply"),
    [
        ("en", "Please delete my data.", "Done. I've deleted everything"),
        ("en", "can you forget me?", "Done. I've deleted everything"),
        ("en", "Start over!", "Okay, starting over."),
        ("en", "oops, go back please", "Okay, let's take that one again."),
        ("es", "¿Puedes borrar mis datos?", "Hecho. He borrado todo"),
        ("es", "empezar de nuevo, por favor", "Vale, empezamos de nuevo."),
    ],
)
def test_commands_as_runners_type_them(bot: Callable[..., Bot], locale: str, typed: str, reply: str) -> None:
    """Punctuation and polite words around a command (`polite` in language.yaml) change nothing."""
    runner = started(bot, KNEEBOT_LOCALE=locale)
    runner.send({"value": ["none"]})
    message = runner.send({"text": typed})[-1]
    assert message["text"].startswith(reply), message["text"]
