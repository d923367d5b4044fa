"""The Discord adapter: discord.py app commands and components in, messages and embeds out.

It translates and nothing more. `/knee check|help|forget|lookup`, a button, a select menu, a
modal or a DM becomes an `Event`; each `Reply` becomes message content or embeds with a view.
Buttons and menus are `DynamicItem`s whose custom ids carry the fact and the value, so a click
is served after a restart, or by another shard, from the id and the shared store alone. The
"Type my answer" form works the same way: its submit is answered from its own custom id
(`knee:modal:{fact}`) and fields, never from a form kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.clubs import ClubSettings
from bot.conversations import Conversations, club_of
from bot.errors import StoreError
from bot.model import Answer, ConversationKey, Event, Question, Reply

__all__ = ["KneeClient", "render"]

_log = logging.getLogger(__name__)

COMMAND = "/knee"
MAX_CONTENT = 2000
MAX_EMBED = 4096
MAX_EMBEDS_TOTAL = 6000
MAX_EMBEDS = 10
MAX_LABEL = 80
MAX_BUTTONS = 25  # 5 rows of 5
MAX_OPTIONS = 25
MAX_INPUT_LABEL = 45
MODAL = "knee:modal:"
ANSWER_FIELD = "knee:answer"
NONE = discord.AllowedMentions.none()
CHECK_IN_EVERY = 30.0
"""Seconds between looks for check-ins that fell due."""
COLOURS = {"urgent": 0xD93025, "see_professional": 0xF2A900, "self_care": 0x1E8E3E}


def _label(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(text: str) -> str:
    """No mention can come alive, even if allowed_mentions were ever loosened."""
    return discord.utils.escape_mentions(text)


def _chunks(text: str, limit: int) -> Iterator[str]:
    """Paragraphs packed into pieces of at most `limit` characters, cut only where they must be."""
    piece = ""
    for paragraph in (p.strip() for p in text.split("\n\n")):
        while len(paragraph) > limit:
            cut = paragraph.rfind("\n", 0, limit)
            cut = cut if cut > 0 else limit
            if piece:
                yield piece
                piece = ""
            yield paragraph[:cut]
            paragraph = paragraph[cut:].lstrip()
        if piece and len(piece) + 2 + len(paragraph) > limit:
            yield piece
            piece = ""
        piece = f"{piece}\n\n{paragraph}" if piece else paragraph
    if piece:
        yield piece


def render(reply: Reply) -> list[dict[str, Any]]:
    """A Reply as keyword arguments for one or more sends, within Discord's limits.

    Questions go as message content with their components; an outcome goes as embeds (up to
    6,000 characters a message), continued in further messages when longer.
    """
    text = _clean(reply.text)
    view = _view(reply)
    messages: list[dict[str, Any]] = []
    if reply.outcome is not None:
        colour = COLOURS.get(reply.outcome.level)
        embeds: list[discord.Embed] = []
        size = 0
        for piece in _chunks(text, MAX_EMBED):
            if embeds and (size + len(piece) > MAX_EMBEDS_TOTAL or len(embeds) == MAX_EMBEDS):
                messages.append({"embeds": embeds})
                embeds, size = [], 0
            embeds.append(discord.Embed(description=piece, colour=colour))
            size += len(piece)
        messages.append({"embeds": embeds})
    else:
        messages = [{"content": piece} for piece in _chunks(text, MAX_CONTENT)] or [{"content": "…"}]
    if view is not None:
        messages[-1]["view"] = view
    for message in messages:
        message["allowed_mentions"] = NONE
    return messages


def _view(reply: Reply) -> discord.ui.View | None:
    question = reply.question
    if question is None:
        return None
    view = discord.ui.View(timeout=None)
    fact = question.fact or ""
    if question.kind == "multi":
        options = [discord.SelectOption(label=_label(c.label, 100), value=c.value) for c in question.choices]
        for start in range(0, len(options), MAX_OPTIONS):
            group = options[start : start + MAX_OPTIONS]
            view.add_item(MultiSelect(fact, group, start // MAX_OPTIONS, question.control("pick_all")))
        return view
        _add_back(view, question)
        return view
    for choice in question.choices[:MAX_BUTTONS]:
        view.add_item(PickButton(fact, choice.value, choice.label))
    if question.kind == "number" and len(view.children) < MAX_BUTTONS:
        view.add_item(NumberButton(fact, question.control("type_answer") or "…"))
    _add_back(view, question)
    return view


def _add_back(view: discord.ui.View, question: Question) -> None:
    """A Back button, when there is an answer to take back."""
    label = question.control("back")
    if label and question.fact and len(view.children) < MAX_BUTTONS:
        view.add_item(BackButton(question.fact, label))


def _key(interaction: discord.Interaction[Any]) -> ConversationKey:
    place = str(interaction.guild_id) if interaction.guild_id else "dm"
    return ConversationKey("discord", place, str(interaction.user.id))


def _dm(key: ConversationKey) -> ConversationKey:
    """Where a runner's conversation lives when they talk to the bot in its DM."""
    return ConversationKey("discord", "dm", key.user)


def _locale(interaction: discord.Interaction[Any]) -> str:
    return str(interaction.locale.value if hasattr(interaction.locale, "value") else interaction.locale)


def _now() -> datetime:
    return datetime.now().astimezone()


def _service(interaction: discord.Interaction[Any]) -> Conversations:
    client = interaction.client
    assert isinstance(client, KneeClient | KneeShardedClient)
    return client.service


async def _club(interaction: discord.Interaction[Any]) -> ClubSettings | None:
    """The server's club settings, for an answer that needs no conversation (None if the store is down)."""
    try:
        return await _service(interaction).club(_key(interaction))
    except StoreError as exc:
        _log.error("store failed (%s): %s", type(exc).__name__, exc)
        return None


async def _send(interaction: discord.Interaction[Any], replies: list[Reply]) -> None:
    """Follow-ups after a deferred response: private in a server, plain in a DM."""
    private = interaction.guild_id is not None
    for reply in replies:
        for message in render(reply):
            await interaction.followup.send(ephemeral=private, **message)


async def _answer(
    interaction: discord.Interaction[Any], fact: str | None, value: Answer | None, shown: str
) -> None:
    """Hand a picked answer to the service; settle the question it answered; send what follows."""
    await interaction.response.defer()  # within 3 seconds, whatever the store does next
    event = Event(
        "answer",
        _now(),
        id=f"discord:{interaction.id}",
        value=value,
        fact=fact or None,
        locale=_locale(interaction),
    )
    replies = await _service(interaction).handle(_key(interaction), event)
    await _settle(interaction, replies, shown)
    await _send(interaction, replies)


async def _settle(interaction: discord.Interaction[Any], replies: list[Reply], shown: str) -> None:
    """Once an answer is taken, the question it answered shows it and loses its buttons."""
    if replies and replies[0].accepted and interaction.message is not None:
        question = _clean(interaction.message.content or "")
        settled = f"{question}\n\n✅ {_clean(shown)}" if question else f"✅ {_clean(shown)}"
        try:
            await interaction.edit_original_response(content=settled[:MAX_CONTENT], view=None)
        except discord.HTTPException as exc:
            _log.warning("could not settle the answered question: %s", exc.status)


class PickButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"knee:p:(?P<fact>[a-z_]*):(?P<value>[a-z0-9_]+)"
):
    """A single-choice answer (or the start / resume prompt, with no fact)."""

    def __init__(self, fact: str, value: str, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_label(label), custom_id=f"knee:p:{fact}:{value}", style=discord.ButtonStyle.secondary
            )
        )
        self.fact, self.value = fact, value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PickButton:
        label = getattr(item, "label", None) or match["value"]
        return cls(match["fact"], match["value"], label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _answer(interaction, self.fact, self.value, self.item.label or self.value)


class MultiSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]], template=r"knee:m:(?P<fact>[a-z_]+):(?P<part>\d)"
):
    """A multi-choice answer: pick every option that fits."""

    def __init__(
        self, fact: str, options: list[discord.SelectOption], part: int = 0, placeholder: str = ""
    ) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"knee:m:{fact}:{part}",
                options=options,
                min_values=1,
                max_values=len(options),
                placeholder=_label(placeholder, 150) or None,
            )
        )
        self.fact = fact

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MultiSelect:
        options = list(getattr(item, "options", []))
        return cls(match["fact"], options, int(match["part"]), getattr(item, "placeholder", None) or "")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        picked = list(self.item.values)
        labels = {option.value: option.label for option in self.item.options}
        await _answer(interaction, self.fact, tuple(picked), ", ".join(labels.get(v, v) for v in picked))


class BackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"knee:b:(?P<fact>[a-z_]+)"):
    """Takes back the last answer and asks that question again."""

    def __init__(self, fact: str, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_label(label), custom_id=f"knee:b:{fact}", style=discord.ButtonStyle.secondary
            )
        )
        self.fact = fact

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BackButton:
        return cls(match["fact"], getattr(item, "label", None) or "…")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        event = Event(
            "back", _now(), id=f"discord:{interaction.id}", fact=self.fact, locale=_locale(interaction)
        )
        await _send(interaction, await _service(interaction).handle(_key(interaction), event))


class NumberButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"knee:n:(?P<fact>[a-z_]+)"):
    """Opens a box to type a number in (or the runner types it in a DM)."""

    def __init__(self, fact: str, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_label(label), custom_id=f"knee:n:{fact}", style=discord.ButtonStyle.primary
            )
        )
        self.fact = fact

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> NumberButton:
        return cls(match["fact"], getattr(item, "label", None) or "…")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(_number_form(interaction, self.fact, self.item.label or "…"))


def _number_form(interaction: discord.Interaction[Any], fact: str, fallback: str) -> discord.ui.Modal:
    """The box to type a number in, labelled with the question's short label from the content.

    It is only a form: discord.py is not to keep it (it is stopped before it is sent), because
    its submit is answered by `on_interaction` from the custom id and the field, whichever
    process, shard or restart receives it, however many runners have the same form open.
    """
    spec = _service(interaction).content_for(_locale(interaction)).facts.get(fact)
    label = spec.summary if spec is not None else fallback
    form = discord.ui.Modal(title="kneebot", custom_id=f"{MODAL}{fact}", timeout=None)
    form.add_item(
        discord.ui.TextInput(label=_label(label, MAX_INPUT_LABEL), custom_id=ANSWER_FIELD, max_length=100)
    )
    form.stop()
    return form


def form_fields(components: Any) -> list[tuple[str, str]]:
    """(custom id, text) of every text field of a submitted form, however Discord nests them."""
    found: list[tuple[str, str]] = []

    def walk(items: Any) -> None:
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict):
                continue
            if item.get("type") == 4 and isinstance(item.get("value"), str):
                found.append((str(item.get("custom_id", "")), item["value"]))
            walk(item.get("components"))
            walk([item.get("component")])

    walk(components)
    return found


def _typed_value(components: Any) -> str:
    """What was typed in the form: the answer field (or the first text field, for older forms)."""
    found = form_fields(components)
    return next((value for cid, value in found if cid == ANSWER_FIELD), found[0][1] if found else "")


async def _submit_form(interaction: discord.Interaction[Any]) -> None:
    """A "Type my answer" form submitted: the fact from its custom id, the number from its field."""
    data: Any = interaction.data or {}
    fact = str(data.get("custom_id", ""))[len(MODAL) :]
    await interaction.response.defer()
    typed = _typed_value(data.get("components"))
    event = Event(
        "text", _now(), id=f"discord:{interaction.id}", text=typed,
        fact=fact if re.fullmatch(r"[a-z_]+", fact) else None, locale=_locale(interaction),
    )  # fmt: skip
    replies = await _service(interaction).handle(_key(interaction), event)
    await _settle(interaction, replies, typed)  # mentions in it are neutralised by _settle
    await _send(interaction, replies)


class _Knee(app_commands.Group):
    """The /knee command group."""

    def __init__(self) -> None:
        super().__init__(name="knee", description="A private knee check for runners, and topics to look up")

    @app_commands.command(description="Start a private knee check")
    async def check(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=interaction.guild_id is not None, thinking=True)
        event = Event("start", _now(), id=f"discord:{interaction.id}", locale=_locale(interaction))
        await _send(interaction, await _service(interaction).handle(_key(interaction), event))

    @app_commands.command(description="What kneebot can do")
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # before the store: 3 s at most
        club = await _club(interaction)
        text = _service(interaction).message("help", locale=_locale(interaction), club=club, command=COMMAND)
        await interaction.followup.send(_clean(text), ephemeral=True, allowed_mentions=NONE)

    @app_commands.command(description="Delete everything kneebot keeps about you")
    async def forget(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        event = Event("forget", _now(), locale=_locale(interaction))
        replies = await _service(interaction).handle(_key(interaction), event)
        await _send(interaction, replies)

    @app_commands.command(description="What kneebot keeps about you, and when it is deleted")
    async def mydata(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        event = Event("data", _now(), locale=_locale(interaction))
        replies = await _service(interaction).handle(_key(interaction), event)
        await _send(interaction, replies[:1])

    @app_commands.command(description="The club's anonymous numbers (for members who manage the server)")
    async def stats(self, interaction: discord.Interaction[Any]) -> None:
        from bot.stats import club_table

        service = _service(interaction)
        content = service.content_for(_locale(interaction))
        assert content.after is not None
        permissions = interaction.permissions
        if interaction.guild_id is None or not permissions.manage_guild:
            text = content.after.stats.admins_only
            await interaction.response.send_message(_clean(text), ephemeral=True, allowed_mentions=NONE)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        shown = await club_table(service.store, content, club_of(_key(interaction)))
        table = f"```\n{shown[: MAX_CONTENT - 8]}\n```"
        await interaction.followup.send(table, ephemeral=True, allowed_mentions=NONE)

    @app_commands.command(description="Look up a topic")
    @app_commands.describe(
        topic="What to look up", details="Anything the topic needs, like your weekly miles"
    )
    async def lookup(self, interaction: discord.Interaction[Any], topic: str, details: str = "") -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # before the store: 3 s at most
        reply = _service(interaction).lookup(
            topic.strip().lower(), details, command=f"{COMMAND} lookup", locale=_locale(interaction),
            club=await _club(interaction),
        )  # fmt: skip
        for message in render(reply):
            await interaction.followup.send(ephemeral=True, **message)

    @lookup.autocomplete("topic")
    async def topics(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        wanted = current.strip().lower()
        return [
            app_commands.Choice(name=title, value=topic_id)
            for topic_id, title in _service(interaction).topics(_locale(interaction))
            if wanted in topic_id or wanted in title.lower()
        ][:25]


class _Setup:
    """What both client kinds share: the service, the command tree and the DM listener."""

    service: Conversations
    tree: app_commands.CommandTree[Any]
    guild_id: int | None
    sync_commands: bool

    check_ins: asyncio.Task[None] | None = None
    stopping: asyncio.Event | None = None

    async def setup_hook(self) -> None:
        assert isinstance(self, discord.Client)
        self.add_dynamic_items(PickButton, MultiSelect, NumberButton, BackButton)
        self.stopping = asyncio.Event()
        self.check_ins = asyncio.get_running_loop().create_task(self._check_ins())
        if not self.sync_commands:
            return
        if self.guild_id:
            guild = discord.Object(id=self.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        _log.info(
            "synced %d commands %s", len(synced), f"to guild {self.guild_id}" if self.guild_id else "globally"
        )

    async def _check_ins(self) -> None:
        """Deliver due check-ins as DMs until the client closes: at start, then every
        CHECK_IN_EVERY seconds. The store hands each to one process or shard."""
        assert self.stopping is not None
        while not self.stopping.is_set():
            try:
                # Asked in the runner's DM, and answered there, whichever server it started in.
                found = await self.service.due_check_ins("discord", home=_dm)
                for key, replies in found:
                    await self._deliver(key, replies)
            except Exception as exc:  # the type only: never what a runner was told
                _log.error("could not deliver due check-ins: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), CHECK_IN_EVERY)

    async def _deliver(self, key: ConversationKey, replies: list[Reply]) -> None:
        """A check-in that fell due, in the runner's DM. Should Discord fail for now (a 5xx past
        discord.py's own retries), it is put back to be asked at the next look."""
        assert isinstance(self, discord.Client)
        try:
            user = await self.fetch_user(int(key.user))
            for reply in replies:
                for message in render(reply):
                    await user.send(**message)
        except discord.DiscordServerError:
            if await self.service.postpone_check_in(key, datetime.now().astimezone()):
                _log.warning(
                    "a check-in could not be sent (DiscordServerError); it is asked again at the next look"
                )
        except (discord.HTTPException, ValueError) as exc:  # closed DMs, an unknown user: not kept
            _log.warning("could not send a check-in: %s", type(exc).__name__)

    async def close(self) -> None:
        """Stop looking for check-ins (waiting for one being sent), then close the connection."""
        if self.stopping is not None and self.check_ins is not None:
            self.stopping.set()
            await self.check_ins
        await super().close()  # type: ignore[misc]

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every interaction passes here after discord.py's own routing, which serves commands,
        buttons and menus; kneebot's forms are answered here, as discord.py keeps none of them."""
        if interaction.type is not discord.InteractionType.modal_submit or not isinstance(
            interaction.data, dict
        ):
            return
        custom_id = str(interaction.data.get("custom_id", ""))
        if custom_id.startswith(MODAL):
            await _submit_form(interaction)
        elif custom_id.startswith("knee:club:"):
            from adapters import discord_club

            await discord_club.submit(interaction)

    async def on_message(self, message: discord.Message) -> None:
        """Typed answers in a DM with the bot."""
        if message.guild is not None or message.author.bot:
            return
        key = ConversationKey("discord", "dm", str(message.author.id))
        event = Event("text", _now(), id=f"discord:{message.id}", text=message.content)
        for reply in await self.service.handle(key, event):
            for sent in render(reply):
                await message.channel.send(**sent)


def _no_voice_warning(record: logging.LogRecord) -> bool:
    return "voice will NOT be supported" not in str(record.msg)  # kneebot has no voice to support


def _quiet_library() -> None:
    """discord.py logs every gateway event and request body at DEBUG: what runners type and are
    told. Its loggers stay at INFO or above (and at the configured level, if higher)."""
    library = logging.getLogger("discord")
    library.setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel(), library.level))
    logging.getLogger("discord.client").addFilter(_no_voice_warning)


def _wire(client: Any, service: Conversations, guild_id: int | None, sync: bool, api_url: str | None) -> None:
    if api_url:
        discord.http.Route.BASE = api_url.rstrip("/")
    client.service = service
    client.guild_id = guild_id
    client.sync_commands = sync
    client.tree = app_commands.CommandTree(
        client,
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True),
    )
    from adapters import discord_club

    knee = _Knee()
    knee.add_command(discord_club.club)
    client.tree.add_command(knee)


class KneeClient(_Setup, discord.Client):
    """kneebot on Discord: one process, plain gateway connection."""

    def __init__(
        self,
        service: Conversations,
        *,
        guild_id: int | None = None,
        sync: bool = False,
        api_url: str | None = None,
    ) -> None:
        _quiet_library()
        super().__init__(intents=discord.Intents.default(), allowed_mentions=NONE)
        _wire(self, service, guild_id, sync, api_url)

    async def connect(self, *, reconnect: bool = True) -> None:
        """Connect to the gateway the REST API names (`GET /gateway/bot`), as the sharded client does."""
        _, url, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await super().connect(reconnect=reconnect)


class KneeShardedClient(_Setup, discord.AutoShardedClient):
    """kneebot on Discord for large servers: discord.py's auto-sharding, state in the shared store."""

    def __init__(
        self,
        service: Conversations,
        *,
        guild_id: int | None = None,
        sync: bool = False,
        api_url: str | None = None,
    ) -> None:
        _quiet_library()
        super().__init__(intents=discord.Intents.default(), allowed_mentions=NONE)
        _wire(self, service, guild_id, sync, api_url)
