"""Quitting mid-triage and coming back: the conversation resumes from SQLite, the embedded default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.transcript import Bot


def test_resume_after_the_process_restarts(bot: Callable[..., Bot], tmp_path: Path) -> None:
    store = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"}
    first = bot(**store)
    first.read_turn()
    first.send({"value": "start"})
    first.send({"value": ["none"]})
    assert first.send({"text": "gradually"})[-1]["fact"] == "days_since_onset"
    assert first.close() == 0

    second = bot(**store)
    opening = second.read_turn()[-1]
    assert opening["fact"] is None
    assert [c["value"] for c in opening["choices"]] == ["resume", "start"]
    assert "partway through" in opening["text"]
    assert second.send({"value": "resume"})[-1]["fact"] == "days_since_onset"
    assert second.send({"text": "3 weeks"})[-1]["fact"] == "age"
    assert second.close() == 0

    third = bot(**store)
    third.read_turn()
    assert third.send({"text": "carry on"})[-1]["fact"] == "age", "words work as well as the button"
    assert third.close() == 0

    fourth = bot(**store)
    fourth.read_turn()
    assert fourth.send({"value": "start"})[-1]["fact"] == "red_flags", "start means a new triage"


def test_the_default_store_is_a_sqlite_file_in_the_state_folder(tmp_path: Path) -> None:
    runner = Bot.start({"XDG_STATE_HOME": str(tmp_path)})  # no KNEEBOT_STORE: the default
    try:
        runner.read_turn()
        runner.send({"value": "start"})
        runner.send({"value": ["none"]})
        assert runner.close() == 0
    finally:
        runner.stop()
    assert (tmp_path / "kneebot" / "kneebot.db").exists()


def test_a_finished_triage_starts_fresh_next_time(bot: Callable[..., Bot], tmp_path: Path) -> None:
    store = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"}
    first = bot(**store)
    first.read_turn()
    first.send({"value": "start"})
    assert first.send({"value": ["locked"]})[-1]["outcome"]["rule"] == "U3"
    first.close()
    second = bot(**store)
    opening = second.read_turn()[-1]
    assert [c["value"] for c in opening["choices"]] == ["start"]


def test_the_bots_own_prompts_take_numbers(bot: Callable[..., Bot], tmp_path: Path) -> None:
    store = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"}
    first = bot(**store)
    first.read_turn()
    assert first.send({"text": "1"})[-1]["fact"] == "red_flags", "1 picks 'start' on the intro"
    first.send({"value": ["none"]})
    first.close()
    second = bot(**store)
    second.read_turn()
    assert second.send({"text": "1"})[-1]["fact"] == "onset", "1 picks 'carry on'"
    second.close()
    third = bot(**store)
    third.read_turn()
    assert third.send({"text": "2"})[-1]["fact"] == "red_flags", "2 picks 'start over'"


def test_a_killed_process_loses_nothing_it_answered(bot: Callable[..., Bot], tmp_path: Path) -> None:
    store = {"KNEEBOT_STORE": f"sqlite:///{tmp_path / 'kneebot.db'}"}
    first = bot(**store)
    first.read_turn()
    first.send({"value": "start"})
    first.send({"value": ["none"]})
    assert first.send({"value": "gradual"})[-1]["fact"] == "days_since_onset"
    first.process.kill()  # SIGKILL between two answers: no chance to clean up
    first.process.wait()
    second = bot(**store)
    second.read_turn()
    assert second.send({"value": "resume"})[-1]["fact"] == "days_since_onset"


def test_a_locked_sqlite_file_gets_a_clear_message_and_then_recovers(
    bot: Callable[..., Bot], tmp_path: Path
) -> None:
    import sqlite3

    path = tmp_path / "kneebot.db"
    runner = bot(KNEEBOT_STORE=f"sqlite:///{path}")
    runner.read_turn()
    runner.send({"value": "start"})
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        reply = runner.send({"value": ["none"]})[-1]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "can't reach my memory" in reply["text"]
    assert runner.send({"value": ["none"]})[-1]["fact"] == "onset", "nothing was lost; it goes on"
