"""The `kneebot` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bot.config import Settings, load_settings
from bot.content import Content, load_content
from bot.errors import ConfigError, ContentError, KneebotError

if TYPE_CHECKING:
    from bot.conversations import Conversations
    from bot.stores import Store

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="kneebot",
    help="A knee-pain triage assistant for running clubs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
content_app = typer.Typer(help="Check the triage content.", no_args_is_help=True)
app.add_typer(content_app, name="content")


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"kneebot {version('kneebot')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """A knee-pain triage assistant for running clubs."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"kneebot: {message}", err=True)
    return typer.Exit(code)


def _setup() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    from bot.logformat import formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
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
    locale: Annotated[
        str | None, typer.Option(help="Language for a new check, like es (default: KNEEBOT_LOCALE).")
    ] = None,
) -> None:
    """Chat with the bot in this terminal. Needs no tokens."""
    from adapters.terminal import run_chat
    from bot.content import locales

    settings = _setup()
    if locale is not None and locale.replace("_", "-").split("-")[0].lower() not in locales():
        raise _fail(f"--locale {locale!r} is not a language kneebot speaks ({', '.join(locales())})")
    service = _service(settings)

    async def run() -> int:
        try:
            return await run_chat(service, json_mode=json_mode, user=user, locale=locale)
        finally:
            await service.store.close()

    try:
        code = asyncio.run(run())
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


def _service(settings: Settings) -> Conversations:
    from bot.content import ContentSource, locales
    from bot.conversations import Conversations
    from bot.stores import open_store

    if settings.locale not in locales():
        raise _fail(
            f"KNEEBOT_LOCALE={settings.locale!r} is not a language kneebot speaks ({', '.join(locales())})"
        )
    try:
        content = ContentSource(
            settings.content, settings.template_constants(), default_locale=settings.locale
        )
    except ContentError as exc:
        raise _fail(str(exc)) from None
    try:
        _check_store(settings.store)
        store = open_store(settings.store, sweep_every=settings.sweep_minutes * 60)
    except KneebotError as exc:
        raise _fail(str(exc)) from None
    return Conversations(content, store, timedelta(hours=settings.retention_hours))


def _check_store(url: str) -> None:
    """Fail fast, before serving anyone: the store opened and written (SQLite) or pinged with
    its auth (Redis). The probe has its own client, as the serving one belongs to another loop."""
    from bot.stores import open_store

    async def probe() -> None:
        store = open_store(url)
        try:
            await store.check()
        finally:
            await store.close()

    asyncio.run(probe())


@app.command()
def slack(
    http: Annotated[
        bool, typer.Option("--http", help="Serve the HTTP Events API instead of Socket Mode.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --http.")] = 3000,
    host: Annotated[str, typer.Option(help="Address for --http.")] = "0.0.0.0",
) -> None:
    """Run the Slack app: Socket Mode by default (no public URL), or HTTP with --http.

    With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET and no SLACK_BOT_TOKEN it is the hosted app any
    club installs from /slack/install (HTTP mode only)."""
    from adapters.slack import serve

    settings = _setup()
    hosted = settings.slack_hosted
    try:
        if hosted and not http:
            raise ConfigError("Add to Slack (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET) runs with --http")
        if hosted:
            settings.require("slack_signing_secret")
        else:
            settings.require("slack_bot_token", "slack_signing_secret" if http else "slack_app_token")
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    service = _service(settings)
    oauth = None
    if hosted:
        from adapters.slack_install import oauth_settings

        assert settings.slack_client_id is not None
        assert settings.slack_client_secret is not None
        try:
            oauth = oauth_settings(
                service.store,
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                redirect_uri=settings.slack_redirect_uri,
            )
        except ConfigError as exc:
            raise _fail(str(exc)) from None
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if not http:
        typer.echo("kneebot: Slack Socket Mode connecting", err=True)
    run = serve(
        service,
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        app_token=None if http else app_token,
        signing_secret=secret,
        oauth=oauth,
        api_url=settings.slack_api_url,
        host=host,
        port=port,
        health_port=None if http else settings.health_port,
        ready=lambda what: typer.echo(f"kneebot: {what}", err=True),
    )
    try:
        asyncio.run(run)  # stops cleanly, exit 0, on SIGTERM or SIGINT
    except KneebotError as exc:
        raise _fail(str(exc), 1) from None


@app.command()
def discord(
    sync: Annotated[
        bool, typer.Option("--sync", help="Register /knee with Discord first (to DISCORD_GUILD_ID if set).")
    ] = False,
) -> None:
    """Run the Discord bot. SIGTERM or Ctrl-C closes the connection and the store, and exits 0."""
    import signal

    import aiohttp
    from discord import DiscordException

    from adapters.discord import KneeClient, KneeShardedClient
    from adapters.health import health_server

    settings = _setup()
    try:
        settings.require("discord_token")
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    service = _service(settings)
    kind = KneeShardedClient if settings.discord_sharded else KneeClient
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()

    async def run() -> None:
        client = kind(
            service, guild_id=settings.discord_guild_id, sync=sync, api_url=settings.discord_api_url
        )
        loop = asyncio.get_running_loop()
        try:
            # Leaving `async with` closes the gateway connection (code 1000) and the HTTP session.
            async with client, health_server(service.store, "0.0.0.0", settings.health_port):
                connection = asyncio.ensure_future(client.start(token))
                stop = asyncio.Event()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, stop.set)
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({connection, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if not connection.done():
                    # Stop reading first, so the close is ours and not a reconnect's. Python
                    # 3.11's wait_for can swallow a cancel that lands as the gateway connects:
                    # then leaving `async with` closes the client, which ends the connection.
                    connection.cancel()
                    await asyncio.wait({connection}, timeout=5)
                if connection.done() and not connection.cancelled():
                    connection.result()  # a refused token or an unreachable API: one line below
        finally:
            await service.store.close()

    typer.echo("kneebot: Discord connecting", err=True)
    try:
        asyncio.run(run())
    except (DiscordException, aiohttp.ClientError, OSError) as exc:
        raise _fail(f"Discord: {_reason(exc)}", 1) from None
    except KneebotError as exc:
        raise _fail(str(exc), 1) from None
    typer.echo("kneebot: Discord connection closed", err=True)


def _reason(exc: BaseException) -> str:
    """One line on what went wrong talking to Discord (never a request body or a token)."""
    from discord import GatewayNotFound, HTTPException, LoginFailure, PrivilegedIntentsRequired

    if isinstance(exc, LoginFailure):
        return "the token was refused; check DISCORD_TOKEN"
    if isinstance(exc, PrivilegedIntentsRequired):
        return "an intent the bot asked for is not enabled in the Developer Portal"
    if isinstance(exc, GatewayNotFound):
        return "no gateway address from GET /gateway/bot; check DISCORD_API_URL"
    if isinstance(exc, HTTPException):
        return f"the API answered {exc.status} to a request"
    return f"could not reach the API ({type(exc).__name__}); check the network and DISCORD_API_URL"


@app.command()
def forget(
    user: Annotated[
        str, typer.Option("--user", help="The runner's user id on their platform (Slack U…, Discord id).")
    ],
) -> None:
    """Delete everything kept about one runner, at once (a data-deletion request)."""
    count = _on_store(_setup(), lambda store: store.forget_user(user))
    typer.echo(f"deleted {count} conversation{'s' if count != 1 else ''} of user {user!r}")


@app.command()
def stats(
    club: Annotated[
        str | None,
        typer.Option(help="One club only, as platform:workspace (slack:T0123, discord:<server id>)."),
    ] = None,
) -> None:
    """The club numbers: knee checks per week by level, and how many found them helpful (counts
    under 5 show as <5; no runner is named or kept)."""
    from bot.content import ContentSource
    from bot.stats import table

    settings = _setup()
    try:
        content = ContentSource(
            settings.content, settings.template_constants(), default_locale=settings.locale
        )
    except ContentError as exc:
        raise _fail(str(exc)) from None
    rows = _on_store(settings, lambda store: store.counts())
    typer.echo(table(content.current(), rows, club))


def _on_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store, do one piece of work on it, close it; a failure is one line."""
    from bot.stores import open_store

    async def run() -> T:
        store = open_store(settings.store)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except KneebotError as exc:
        raise _fail(str(exc)) from None


@app.command()
def ask(
    topic: Annotated[str, typer.Argument(help="A topic: warmups, foam, strength, taper, shoes…")],
    args: Annotated[
        list[str] | None, typer.Argument(help="What the topic needs, like `40 in 12 days`.")
    ] = None,
) -> None:
    """Look a topic up without starting a check (`kneebot ask taper 40 in 12 days`)."""
    from rich.console import Console
    from rich.markdown import Markdown

    from bot.lookup import lookup

    settings = _setup()
    content = _content(settings)
    reply = lookup(
        content, topic, " ".join(args or []), now=datetime.now().astimezone(), command="kneebot ask"
    )
    Console().print(Markdown(reply.text))


@content_app.command("check")
def content_check(
    directory: Annotated[
        Path | None, typer.Argument(help="Content folder (default: KNEEBOT_CONTENT or the built-in).")
    ] = None,
) -> None:
    """Validate the content: every file, fact, rule and template."""
    from bot.content import default_content_dir, is_overlay, languages_of, load_content
    from bot.lint import lint, missing_translations, outcome_texts, vocabulary

    settings = _setup()
    content = _content(settings, directory)
    folder = directory or settings.content or default_content_dir()
    problems = lint(content) + missing_translations(
        folder if not is_overlay(folder) else default_content_dir()
    )
    problems += vocabulary(content, directory or settings.content, "en") + outcome_texts(content)
    languages = languages_of(folder)
    for code in languages[1:]:
        try:
            translated = load_content(folder, settings.template_constants(), code)
        except ContentError as exc:
            problems.extend(exc.problems)
        else:
            problems += vocabulary(translated, directory or settings.content, code)
            problems += outcome_texts(translated)
    if settings.locale not in languages:
        raise _fail(
            f"KNEEBOT_LOCALE={settings.locale!r} asks for a language the content does not have "
            f"(languages: {', '.join(languages)})"
        )
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise _fail(f"content loads, but {len(problems)} problem(s) need fixing:\n{lines}")
    typer.echo(
        f"content ok: {len(content.facts)} facts, {len(content.steps)} steps, "
        f"{len(content.rules)} rules, {len(content.advice)} advice sections, {len(content.topics)} topics "
        f"(version {content.version})\nlanguages: {', '.join(languages)}"
    )


@content_app.command("eval")
def content_eval(
    corpus: Annotated[
        list[Path] | None,
        typer.Argument(help="Corpus files (default: tests/corpus/*.yaml under this folder)."),
    ] = None,
    show: Annotated[
        str,
        typer.Option(help="Which phrases to list: unsafe, wrong (and unsafe), reasked (all three), none."),
    ] = "unsafe",
) -> None:
    """Measure how the bot reads runners' own words: per fact, right / re-asked / wrong / unsafe."""
    from bot.content import ContentSource
    from bot.evaluate import evaluate, misreadings

    settings = _setup()
    files = corpus or sorted(Path("tests/corpus").glob("*.yaml"))
    if not files:
        raise _fail("no corpus files: name some, or run this where tests/corpus/*.yaml exists")
    if show not in ("unsafe", "wrong", "reasked", "none"):
        raise _fail(f"--show {show!r} is not one of unsafe, wrong, reasked, none")
    try:
        source = ContentSource(
            settings.content, settings.template_constants(), default_locale=settings.locale
        )
        report = evaluate(source.current, files)
    except ContentError as exc:
        raise _fail(str(exc)) from None
    typer.echo(report.table())
    grades = {
        "unsafe": ("unsafe",),
        "wrong": ("unsafe", "wrong"),
        "reasked": ("unsafe", "wrong", "reasked"),
        "none": (),
    }[show]
    listed = misreadings(report, grades)  # type: ignore[arg-type]
    if listed:
        typer.echo("\n" + listed)
    if report.total()["unsafe"]:
        raise typer.Exit(1)


@content_app.command("graph")
def content_graph(
    form: Annotated[
        str, typer.Option("--format", help="mermaid (for the README) or dot (Graphviz).")
    ] = "mermaid",
    directory: Annotated[Path | None, typer.Argument(help="Content folder (default: as for chat).")] = None,
) -> None:
    """Draw the triage flow."""
    from bot.graph import dot, mermaid

    if form not in ("mermaid", "dot"):
        raise _fail(f"--format {form!r} is not one kneebot draws; use mermaid or dot")
    content = _content(_setup(), directory)
    typer.echo(mermaid(content) if form == "mermaid" else dot(content), nl=False)


def main() -> None:
    """Every error is one line on stderr and a non-zero exit, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # a usage error: unknown option, bad value
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `kneebot`: the help, as Typer shows it
            typer.echo(exc.format_message(), err=True)
        else:
            typer.echo(f"kneebot: {_one_line(exc.format_message())}", err=True)
        code = getattr(exc, "exit_code", 2)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except Exception as exc:  # a port in use, a port out of range, anything unforeseen
        typer.echo(f"kneebot: {_one_line(str(exc)) or type(exc).__name__}", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())
