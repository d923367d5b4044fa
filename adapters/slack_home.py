"""kneebot's App Home in Slack, and the club settings form its admins fill in.

Opening the Home tab publishes (`views.publish`) what kneebot does and keeps, a *Start a check*
button and the topics anyone can look up; a workspace's admins and owners (as `users.info` says)
also get *Club settings*, which opens (`views.open`) a form with the club's values. Its submit is
checked again for an admin, validated by `bot.clubs` (a wrong field is answered with Slack's
`response_action: errors` on that field) and saved for the workspace. Every word comes from the
content; this module only lays it out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clubs import FIELDS, HINTS, TEXT_FIELDS, ClubSettings, read_form
from bot.content import Content, locales
from bot.conversations import Conversations
from bot.errors import StoreError
from bot.model import ConversationKey
from bot.stats import club_table

__all__ = ["CLUB_FORM", "CLUB_OPEN", "HOME_START", "wire"]

_log = logging.getLogger(__name__)

HOME_START = "knee_home_start"
CLUB_OPEN = "knee_club_open"
CLUB_FORM = "knee_club"
_SELECTS = {"unit", "language"}


def _text(text: str, limit: int = 75) -> dict[str, Any]:
    return {
        "type": "plain_text",
        "text": text if len(text) <= limit else text[: limit - 1] + "…",
        "emoji": True,
    }


class Member:
    """What Slack says about the person at the keyboard: their language and whether they run the
    workspace (admin, owner or primary owner)."""

    def __init__(self, locale: str | None, admin: bool) -> None:
        self.locale = locale
        self.admin = admin


async def member(client: AsyncWebClient, user: str) -> Member:
    try:
        found = await client.users_info(user=user, include_locale=True)
    except SlackApiError as exc:
        from adapters.slack import slack_error

        _log.info("no member details: %s", slack_error(exc))
        return Member(None, False)
    except (aiohttp.ClientError, TimeoutError) as exc:
        _log.info("no member details: %s", type(exc).__name__)
        return Member(None, False)
    info = found.get("user") or {}
    admin = any(bool(info.get(flag)) for flag in ("is_admin", "is_owner", "is_primary_owner"))
    return Member(str(info.get("locale") or "") or None, admin)


def home_view(
    content: Content, topics: list[tuple[str, str]], admin: bool, command: str, stats: str | None = None
) -> dict[str, Any]:
    """The Home tab; `stats` (the club's anonymous numbers) is shown to admins only."""
    from adapters.slack import escape, mrkdwn

    say = content.templates
    buttons: list[dict[str, Any]] = [
        {"type": "button", "action_id": HOME_START, "text": _text(say["club:start"]({})), "style": "primary"}
    ]
    if admin:
        buttons.append({"type": "button", "action_id": CLUB_OPEN, "text": _text(say["club:settings"]({}))})
    home = say["home"](dict(content.constants))
    listed = "\n".join(f"• *{escape(title)}*: `{command} {topic}`" for topic, title in topics)
    blocks: list[dict[str, Any]] = [
        *(
            {"type": "section", "text": {"type": "mrkdwn", "text": p[:3000]}}
            for p in mrkdwn(home).split("\n\n")
            if p.strip()
        ),
        {"type": "actions", "block_id": "home_actions", "elements": buttons},
        {"type": "divider"},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{say['club:topics']({})}*\n{listed}"[:3000]},
        },
    ]
    if admin and stats:
        title, _, rows = stats.partition("\n")
        text = f"*{escape(title)}*\n```{escape(rows)}```" if rows.strip() else f"_{escape(title)}_"
        blocks += [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
    return {"type": "home", "blocks": blocks[:100]}


def club_view(content: Content, settings: ClubSettings, names: dict[str, str]) -> dict[str, Any]:
    """The settings form, filled in with the club's values; `names` labels each language code."""
    say = content.templates

    def label(name: str) -> str:
        return say[f"club:{name}"]({})

    def text_input(name: str, limit: int, hint: str | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": limit}
        if getattr(settings, name):
            element["initial_value"] = getattr(settings, name)
        block: dict[str, Any] = {"type": "input", "block_id": name, "optional": True,
                                 "label": _text(label(name), 2000), "element": element}  # fmt: skip
        if hint:
            block["hint"] = _text(hint, 2000)
        return block

    def select(name: str, options: list[tuple[str, str]]) -> dict[str, Any]:
        choices = [{"text": _text(shown), "value": value} for value, shown in options]
        element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": choices}
        current = getattr(settings, name)
        for choice in choices:
            if choice["value"] == current:
                element["initial_option"] = choice
        return {"type": "input", "block_id": name, "optional": True, "label": _text(label(name), 2000),
                "element": element, "hint": _text(label("unset"), 2000)}  # fmt: skip

    units = content.language.unit_names
    return {
        "type": "modal",
        "callback_id": CLUB_FORM,
        "title": _text(label("title"), 24),
        "submit": _text(label("save"), 24),
        "blocks": [
            *(
                text_input(name, limit, label(HINTS[name]) if name in HINTS else None)
                for name, limit in TEXT_FIELDS.items()
            ),
            select("unit", [(unit, units.get(unit, unit)) for unit in ("miles", "km")]),
            select("language", list(names.items())),
        ],
    }


def _form_values(view: dict[str, Any]) -> dict[str, str]:
    """What the form holds: each field's text, or the value of its chosen option."""
    values: dict[str, str] = {}
    for name, elements in ((view.get("state") or {}).get("values") or {}).items():
        if name not in FIELDS or not isinstance(elements, dict):
            continue
        element = elements.get("value") or {}
        chosen = element.get("selected_option") or {}
        values[name] = str(chosen.get("value") or "") if name in _SELECTS else str(element.get("value") or "")
    return values


def _refusal(content: Content) -> dict[str, Any]:
    say = content.templates
    return {
        "type": "modal",
        "callback_id": f"{CLUB_FORM}_refused",
        "title": _text(say["club:title"]({}), 24),
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": say["club:refused"]({})}}],
    }


def wire(
    app: AsyncApp,
    service: Conversations,
    start: Callable[[AsyncWebClient, ConversationKey, str | None], Coroutine[Any, Any, None]],
    run: Callable[[Coroutine[Any, Any, None]], None],
    command: str,
) -> None:
    """The Home tab and the club settings form. `start` opens a check in the runner's DM (as
    `/knee` does); `run` starts work after the ack."""

    def workspace(context: AsyncBoltContext) -> str:
        return context.team_id or context.enterprise_id or "-"

    def languages() -> dict[str, str]:
        return {code: service.content_for(code).templates["club:language_name"]({}) for code in locales()}

    async def publish(client: AsyncWebClient, team: str, user: str) -> None:
        found = await member(client, user)
        club = await service.clubs.get("slack", team)
        content = service.content_for(found.locale, club)
        topics = service.topics(content.locale)
        stats = await club_table(service.store, content, f"slack:{team}") if found.admin else None
        view = home_view(content, topics, found.admin, command, stats)
        await client.views_publish(user_id=user, view=view)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        if event.get("tab") == "home" and event.get("user"):
            run(publish(client, workspace(context), str(event["user"])))

    @app.action(HOME_START)
    async def start_check(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        key = ConversationKey("slack", workspace(context), context.user_id or "-")
        trigger = body.get("trigger_id")
        run(start(client, key, f"slack:home:{key.workspace}:{trigger}" if trigger else None))

    @app.action(CLUB_OPEN)
    async def open_form(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        user, team = context.user_id or "-", workspace(context)
        found = await member(client, user)
        club = await service.clubs.get("slack", team)
        content = service.content_for(found.locale, club)
        view = club_view(content, club, languages()) if found.admin else _refusal(content)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(CLUB_FORM)
    async def submitted(
        ack: AsyncAck, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        user, team = context.user_id or "-", workspace(context)
        found = await member(client, user)  # asked again: the form may be old, or forged
        content = service.content_for(found.locale)
        if not found.admin:
            _log.warning("club settings: a submit from a non-admin of workspace %s was refused", team)
            await ack(response_action="update", view=_refusal(content))
            return
        parsed = read_form(_form_values(view), content)
        if not isinstance(parsed, ClubSettings):
            await ack(response_action="errors", errors=parsed)
            return
        try:
            await service.clubs.save(
                "slack", team, parsed, who=f"slack:{user}", at=datetime.now().astimezone()
            )
        except StoreError as exc:
            _log.error("club settings could not be saved: %s", exc)
            await ack(response_action="errors", errors={FIELDS[0]: content.templates["club:store_down"]({})})
            return
        await ack()
        run(publish(client, team, user))
