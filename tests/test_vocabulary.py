"""`kneebot content check` reads every option's words the way the bot will: a synonym that
would misread runners fails the check, in every language, at its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_content import run


def overlay(tmp_path: Path, facts: str, language: str = "", folder: str = "") -> Path:
    club = tmp_path / "club"
    (club / folder).mkdir(parents=True, exist_ok=True)
    (club / folder / "facts.yaml").write_text(facts)
    if language:
        (club / folder / "language.yaml").write_text(language)
    return club


def test_the_shipped_content_passes_in_every_language() -> None:
    result = run("content", "check")
    assert result.returncode == 0, result.stderr


def test_a_synonym_that_shrinks_to_a_skip_word_fails(tmp_path: Path) -> None:
    # With `bit` dropped as a skip word, `bit by bit` would be just `by`, and any sentence with
    # "by" (`got clipped by a cyclist`) would read as a gradual onset.
    club = overlay(
        tmp_path,
        "facts:\n  onset:\n    choices:\n      - value: gradual\n        synonyms: [bit by bit, gradually]\n",
        language="skip_words: [the, my, a, bit]\n",
    )
    result = run("content", "check", str(club))
    assert result.returncode != 0
    assert "onset.gradual: synonym 'bit by bit' shrinks to 'by'" in result.stderr
    assert f"{club / 'facts.yaml'}:" in result.stderr


def test_a_phrase_shared_by_two_options_fails(tmp_path: Path) -> None:
    club = overlay(
        tmp_path,
        "facts:\n  improving:\n    choices:\n      - value: unsure\n        synonyms: [the same, varies]\n",
    )
    result = run("content", "check", str(club))
    assert result.returncode != 0
    assert "improving: 'the same' names both 'no' and 'unsure'" in result.stderr


def test_a_synonym_that_reads_as_another_option_fails(tmp_path: Path) -> None:
    # A runner typing `over 16` means 17 or more, but the number says 16: the bot reads the number.
    club = overlay(
        tmp_path,
        "facts:\n  age:\n    choices:\n      - value: 17_to_54\n        synonyms: [adult, over 16]\n",
    )
    result = run("content", "check", str(club))
    assert result.returncode != 0
    assert "age.17_to_54: 'over 16' reads as '16_or_under'" in result.stderr


@pytest.mark.parametrize("folder", ["es"])
def test_a_language_folder_is_checked_too(tmp_path: Path, folder: str) -> None:
    club = overlay(
        tmp_path,
        'facts:\n  improving:\n    choices:\n      - value: "yes"\n        synonyms: [mejor, igual]\n',
        folder=folder,
    )
    result = run("content", "check", str(club))
    assert result.returncode != 0
    assert "improving: 'igual' names both" in result.stderr
