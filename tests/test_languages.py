"""Spanish: complete content, chosen per runner from their platform, kept for the whole check."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from bot.content import default_content_dir, locales
from tests.test_content import edit, run
from tests.transcript import Bot


def test_spanish_is_a_language() -> None:
    assert locales() == ["en", "es"]


def test_a_whole_check_in_spanish_words(bot: Callable[..., Bot]) -> None:
    assert "Hi, I'm" in bot().read_turn()[-1]["text"], "English unless asked"
    spanish = bot(KNEEBOT_LOCALE="es")
    assert spanish.read_turn()[-1]["text"].startswith("Hola, soy **kneebot**")
    said = ["vale, empezamos", "ninguna", "poco a poco", "hace 3 semanas", "tengo 34", "nada", "un 6",
            "no, sigue igual", "delante de la rótula", "más cuestas", "asfalto y caminos", "no sé",
            "el 13 de diciembre", "un maratón"]  # fmt: skip
    for text in said:
        message = spanish.send({"text": text})[-1]
        assert message["kind"] is not None, f"{text!r}: {message['text']}"
        assert not message["text"].startswith("Perdona"), f"{text!r} was not understood"
    outcome = spanish.send({"text": "40 km a la semana"})[-1]
    assert outcome["outcome"]["rule"] == "P4"
    assert "Pide cita con fisioterapia, medicina deportiva o tu médico" in outcome["text"]
    assert "no es un diagnóstico" in outcome["text"]
    assert "llama al 112 o el número de emergencias de tu país" in outcome["text"]
    assert "911 (US)" not in outcome["text"], "no English default leaks into Spanish"
    assert "Tus respuestas" in spanish.received[-1]["text"]


def test_content_check_reports_text_missing_from_a_language(tmp_path: Path) -> None:
    copy = tmp_path / "content"
    shutil.copytree(default_content_dir(), copy)
    edit(copy / "es", "facts.yaml", "    hint: Di `de golpe`", "    hin: Di `de golpe`")
    result = run("content", "check", str(copy))
    assert result.returncode == 2
    assert "no 'es' text for facts.onset.hint" in result.stderr
    assert f"{copy / 'es' / 'facts.yaml'}:" in result.stderr


def test_content_check_names_the_languages_and_fails_without_the_one_asked_for(tmp_path: Path) -> None:
    ok = run("content", "check")
    assert ok.returncode == 0, ok.stderr
    assert "languages: en, es" in ok.stdout
    english_only = tmp_path / "content"
    shutil.copytree(default_content_dir(), english_only, ignore=shutil.ignore_patterns("es"))
    alone = run("content", "check", str(english_only))
    assert alone.returncode == 0, alone.stderr
    assert "languages: en\n" in alone.stdout
    missing = run("content", "check", str(english_only), env={"KNEEBOT_LOCALE": "es"})
    assert missing.returncode == 2
    assert missing.stderr == (
        "kneebot: KNEEBOT_LOCALE='es' asks for a language the content does not have (languages: en)\n"
    )


def test_a_language_kneebot_lacks_is_refused_at_chat_start() -> None:
    refused = run("chat", "--json", "--locale", "fr")
    assert refused.returncode == 2
    assert refused.stderr == "kneebot: --locale 'fr' is not a language kneebot speaks (en, es)\n"
