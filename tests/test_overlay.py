"""A club's own content: an overlay folder that changes only what it needs, reloaded while running."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.content import ContentSource
from bot.errors import ContentError
from tests.conftest import CONSTANTS
from tests.test_content import run
from tests.test_transcripts import CALM
from tests.transcript import Bot, triage

CLUB = """\
name: Riverside Harriers
booking_name: Riverside Physio
booking_link: https://physio.example/book
emergency_number: "000"
unit: km
"""


@pytest.fixture
def club(tmp_path: Path) -> Path:
    folder = tmp_path / "club"
    folder.mkdir()
    (folder / "club.yaml").write_text(CLUB)
    return folder


def test_a_club_yaml_is_all_an_overlay_needs(bot: Callable[..., Bot], club: Path) -> None:
    runner = bot(KNEEBOT_CONTENT=str(club))
    intro = runner.read_turn()[-1]
    assert "Riverside Harriers's automated assistant" in intro["text"]
    runner.send({"value": "start"})
    outcome = runner.send({"value": ["locked"]})[-1]
    assert "call 000" in outcome["text"].lower()
    outcome, _ = triage(bot(KNEEBOT_CONTENT=str(club)), {**CALM, "symptoms": ["swelling"]})
    assert "[Riverside Physio](https://physio.example/book)" in outcome["text"]


def test_the_overlay_changes_only_what_it_says(bot: Callable[..., Bot], club: Path) -> None:
    (club / "facts.yaml").write_text("facts:\n  onset:\n    question: So, how did it begin?\n")
    runner = bot(KNEEBOT_CONTENT=str(club))
    message, _ = triage(runner, {**CALM, "weekly_miles": 40})
    asked = {m["fact"]: m["text"] for m in runner.received if m["fact"]}
    assert asked["onset"].endswith("So, how did it begin?")
    assert "First, a quick safety check" in asked["red_flags"]
    assert "kilometres" in asked["shoe_miles"], "the club's unit"
    assert message["outcome"]["rule"] == "S1"


def test_a_broken_overlay_is_rejected_with_its_own_file_and_line(club: Path) -> None:
    (club / "rules.yaml").write_text('rules:\n  - id: P1\n    when: onset == "injured"\n')
    result = run("content", "check", str(club))
    assert result.returncode == 2
    assert f"{club / 'rules.yaml'}:2: rule 'P1': onset has no value 'injured'" in result.stderr
    (club / "club.yaml").write_text("booking_link: javascript:alert(1)\n")
    result = run("content", "check", str(club))
    assert f"{club / 'club.yaml'}:1: booking_link" in result.stderr


def test_running_content_reloads_and_survives_a_broken_change(
    club: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    source = ContentSource(club, CONSTANTS, every=1.0, clock=lambda: now[0])
    assert source.current().constants["club_name"] == "Riverside Harriers"
    (club / "club.yaml").write_text(CLUB.replace("Riverside", "Hillside"))
    assert source.current().constants["club_name"] == "Riverside Harriers", "checked at most every second"
    now[0] += 1.5
    good = source.current()
    assert good.constants["club_name"] == "Hillside Harriers"
    (club / "club.yaml").write_text("name: [unclosed\n")
    now[0] += 1.5
    with caplog.at_level(logging.ERROR, logger="bot.content"):
        assert source.current() is good, "the old content keeps serving"
    assert f"{club / 'club.yaml'}:" in caplog.text
    with pytest.raises(ContentError):
        ContentSource(club, CONSTANTS)  # but a bot never starts on it


def test_a_content_folder_cannot_point_outside_itself(club: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("facts:\n  onset:\n    question: leaked\n")
    (club / "facts.yaml").symlink_to(secret)
    result = run("content", "check", str(club))
    assert result.returncode == 2
    assert f"{club / 'facts.yaml'}: points outside its content folder" in result.stderr
    assert "leaked" not in result.stderr
