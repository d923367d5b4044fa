"""The `kneebot` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings, load_settings
from bot.content import Content, load_content
from bot.errors import ConfigError, ContentError, KneebotError

__all__ = ["app", "main"]

app = typer.Typer(
    name="kneebot",
    help="A knee-pain triage assistant for running clubs.",
    no_args_is_help=True,
    add_completion=False,
)
content_app = typer.Typer(help="Check the triage content.", no_args_is_help=True)
app.add_typer(content_app, name="content")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"kneebot: {message}", err=True)
    return typer.Exit(code)


def _setup() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    return settings


def _content(settings: Settings, directory: Path | None = None) -> Content:
    try:
        return load_content(directory or settings.content, settings.template_constants())
    except ContentError as exc:
        raise _fail(str(exc)) from None


@app.command()
def chat(
    json_mode: Annotated[
        bool, typer.Option("--json", help="JSON lines in on stdin and out on stdout (transcripts).")
    ] = False,
    user: Annotated[str | None, typer.Option(help="Whose conversation (default: your login).")] = None,
) -> None:
    """Chat with the bot in this terminal. Needs no tokens."""
    from adapters.terminal import run_chat
    from bot.conversations import Conversations
    from bot.stores import open_store

    settings = _setup()
    content = _content(settings)
    try:
        store = open_store(settings.store)
    except KneebotError as exc:
        raise _fail(str(exc)) from None
    service = Conversations(content, store, timedelta(hours=settings.retention_hours))

    async def run() -> int:
        try:
            return await run_chat(service, json_mode=json_mode, user=user)
        finally:
            await store.close()

    try:
        code = asyncio.run(run())
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


@content_app.command("check")
def content_check(
    directory: Annotated[
        Path | None, typer.Argument(help="Content folder (default: KNEEBOT_CONTENT or the built-in).")
    ] = None,
) -> None:
    """Validate the content: every file, fact, rule and template."""
    settings = _setup()
    content = _content(settings, directory)
    typer.echo(
        f"content ok: {len(content.facts)} facts, {len(content.steps)} steps, "
        f"{len(content.rules)} rules, {len(content.advice)} advice sections (version {content.version})"
    )


def main() -> None:
    app()
