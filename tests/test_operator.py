"""The operator's kit: the version, the licence, machine-readable logs."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from tests.test_content import run
from tests.transcript import Bot

ROOT = Path(__file__).resolve().parent.parent


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout == f"kneebot {version('kneebot')}\n"
    assert version("kneebot") == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_licence_pyproject_names_is_there() -> None:
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_json_logs_are_one_object_per_line(bot: Callable[..., Bot]) -> None:
    runner = bot(KNEEBOT_LOG_LEVEL="DEBUG", KNEEBOT_LOG_FORMAT="json")
    runner.read_turn()
    runner.send({"value": "start"})
    assert runner.send({"value": ["locked"]})[-1]["outcome"]["rule"] == "U3"
    assert runner.close() == 0
    lines = runner.stderr().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    assert {
        "level": "INFO",
        "logger": "bot.engine",
        "message": "triage outcome level=urgent rule=U3",
    }.items() <= next(r for r in records if r["logger"] == "bot.engine").items()


def test_a_bad_log_format_is_named() -> None:
    done = run("chat", "--json", env={"KNEEBOT_LOG_FORMAT": "xml"})
    assert done.returncode == 2
    assert done.stderr.startswith("kneebot: bad setting: KNEEBOT_LOG_FORMAT='xml'")


def test_every_sentence_of_the_privacy_section_names_a_test_that_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Privacy\n", 1)[1].split("\n## ", 1)[0]
    tests = "".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py"))
    body = section.split("\n\n", 1)[1]  # after the line that says so
    sentences = [s for s in re.split(r"(?<=[.\]])\s+(?=[A-Z*])", " ".join(body.split())) if s]
    for sentence in sentences:
        if sentence.startswith("**") and sentence.endswith(".**"):
            continue  # a paragraph's heading
        named = re.findall(r"`(test_\w+)`", sentence)
        assert named, f"no test named for: {sentence}"
        for name in named:
            assert f"def {name}(" in tests, f"{name} does not exist"
