"""`/knee club`: a Discord server's own settings, for members with Manage Server.

The command opens a form (a modal) with the club's typed-in values (`bot.clubs.TEXT_FIELDS`),
filled in with what is saved; the distance unit and default language are the
command's own options (a form holds five fields at most), carried in the form's custom id
(`knee:club:<unit>:<language>`). Like kneebot's other forms it is answered from its custom id and
fields alone, so any process or shard can take the submit. Manage Server is checked when the form
is opened and again when it is sent; `bot.clubs` validates and saves, and keeps who and when.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import discord
from discord import app_commands

from adapters.discord import NONE, _clean, _key, _locale, _service, form_fields
from bot.clubs import HINTS, TEXT_FIELDS, ClubSettings, read_form
from bot.content import Content, locales
from bot.errors import StoreError

__all__ = ["FORM", "club", "submit"]

_log = logging.getLogger(__name__)

FORM = "knee:club:"


def _allowed(interaction: discord.Interaction[Any]) -> bool:
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def _say(content: Content, name: str) -> str:
    return content.templates[f"club:{name}"]({})


async def _refuse(interaction: discord.Interaction[Any], content: Content) -> None:
    _log.warning(
        "club settings: a member without Manage Server was refused in guild %s", interaction.guild_id
    )
    await interaction.response.send_message(
        _clean(_say(content, "refused")), ephemeral=True, allowed_mentions=NONE
    )


@app_commands.command(name="club", description="Your club's settings (members who can manage the server)")
@app_commands.describe(
    unit="Distances in miles or km", language="The language for runners whose own kneebot does not speak"
)
@app_commands.choices(
    unit=[app_commands.Choice(name=unit, value=unit) for unit in ("miles", "km")],
    language=[app_commands.Choice(name=code, value=code) for code in locales()],
)
async def club(
    interaction: discord.Interaction[Any],
    unit: app_commands.Choice[str] | None = None,
    language: app_commands.Choice[str] | None = None,
) -> None:
    service = _service(interaction)
    if not _allowed(interaction):
        await _refuse(interaction, service.content_for(_locale(interaction)))
        return
    key = _key(interaction)
    try:
        settings = await service.clubs.get(key.platform, key.workspace)
    except StoreError as exc:
        _log.error("store failed (%s): %s", type(exc).__name__, exc)
        content = service.content_for(_locale(interaction))
        await interaction.response.send_message(_say(content, "store_down"), ephemeral=True)
        return
    content = service.content_for(_locale(interaction), settings)
    chosen_unit = unit.value if unit else settings.unit or "-"
    chosen_language = language.value if language else settings.language or "-"
    form = discord.ui.Modal(
        title=_say(content, "title")[:45], custom_id=f"{FORM}{chosen_unit}:{chosen_language}", timeout=None
    )
    for name, limit in TEXT_FIELDS.items():
        label = _say(content, name)
        form.add_item(
            discord.ui.TextInput(
                label=label[:45],
                custom_id=name,
                default=getattr(settings, name) or None,
                required=False,
                max_length=limit,
                placeholder=_say(content, HINTS[name])[:100] if name in HINTS else None,
            )
        )
    form.stop()  # answered by `submit` from its custom id and fields, not kept in memory
    await interaction.response.send_modal(form)


async def submit(interaction: discord.Interaction[Any]) -> None:
    """The club form sent: checked again for Manage Server, validated, saved, answered privately."""
    service = _service(interaction)
    content = service.content_for(_locale(interaction))
    if not _allowed(interaction):
        await _refuse(interaction, content)
        return
    data: Any = interaction.data or {}
    chosen = re.fullmatch(r"knee:club:([a-z-]+):([a-z-]+)", str(data.get("custom_id", "")))
    values: dict[str, Any] = {k: v for k, v in form_fields(data.get("components")) if k in TEXT_FIELDS}
    if chosen:
        values["unit"], values["language"] = (v if v != "-" else "" for v in chosen.groups())
    parsed = read_form(values, content)
    if not isinstance(parsed, ClubSettings):
        lines = [f"**{_say(content, name)}**: {problem}" for name, problem in parsed.items()]
        await interaction.response.send_message(
            _clean("\n".join(lines)), ephemeral=True, allowed_mentions=NONE
        )
        return
    key = _key(interaction)
    try:
        await service.clubs.save(
            key.platform, key.workspace, parsed, who=f"discord:{key.user}", at=datetime.now().astimezone()
        )
    except StoreError as exc:
        _log.error("club settings could not be saved: %s", exc)
        await interaction.response.send_message(_say(content, "store_down"), ephemeral=True)
        return
    await interaction.response.send_message(
        _clean(_say(content, "saved")), ephemeral=True, allowed_mentions=NONE
    )
