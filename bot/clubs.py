"""A club's own settings: kept in the store per workspace or server, changed by the club's admins.

The files (`content/club.yaml`, a club's overlay folder, the `KNEEBOT_*` settings) stay underneath
as the defaults; what a club's admin saves here is laid over them for that club only, and every
worker sees a change on its next event, as the store is shared. Every change is kept with who made
it and when (never anything a runner said), and logged.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from bot.content import CLUB_TEXT, ClubText, Content, locales, with_club
from bot.errors import ConflictError
from bot.stores import Store

__all__ = ["FIELDS", "HINTS", "TEXT_FIELDS", "ClubSettings", "Clubs", "club_key", "read_form"]

_log = logging.getLogger(__name__)
audit_log = logging.getLogger("kneebot.audit")

_KEEP = 10 * 365 * 24 * 3600.0  # a club's settings stay until the club uninstalls the bot
_AUDIT_KEPT = 100
_UNITS = ("miles", "km")


def _fail(text: ClubText) -> PydanticCustomError:
    """A field's problem, named by the content's words for it (`club:<text>`); its message is the
    English default, for when no content is at hand."""
    return PydanticCustomError(f"club:{text}", CLUB_TEXT[text])


class ClubSettings(BaseModel):
    """What a club's admin may set. Empty means "as the files say"."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    club_name: str = ""
    booking_name: str = ""
    booking_link: str = ""
    emergency_number: str = ""
    unit: str = ""
    language: str = ""

    @field_validator("club_name", "booking_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 80:
            raise _fail("too_long")
        if any(c in value for c in "<>*_`[]\n"):
            raise _fail("plain_text")
        return value

    @field_validator("booking_link")
    @classmethod
    def _link(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.netloc or "." not in parts.netloc or " " in value:
            raise _fail("https_link")
        if len(value) > 300 or any(c in value for c in "<>()|"):
            raise _fail("bad_link")
        return value

    @field_validator("emergency_number")
    @classmethod
    def _emergency(cls, value: str) -> str:
        if value and not (value.isascii() and value.isdigit() and 2 <= len(value) <= 8):
            raise _fail("digits_only")
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        value = value.lower()
        if value and value not in _UNITS:
            raise _fail("miles_or_km")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.lower()
        if value and value not in locales():
            raise _fail("known_language")
        return value

    def values(self) -> dict[str, str]:
        """The content values this club sets (the names templates use)."""
        return {
            "club_name": self.club_name,
            "booking_name": self.booking_name,
            "booking_link": self.booking_link,
            "emergency_number": self.emergency_number,
            "unit": self.unit,
        }


FIELDS: tuple[str, ...] = tuple(ClubSettings.model_fields)
TEXT_FIELDS: dict[str, int] = {
    "club_name": 80,
    "booking_name": 80,
    "booking_link": 300,
    "emergency_number": 8,
}
"""The fields a form has typed in, and the most characters each takes; the rest are choices."""
HINTS: dict[str, str] = {"emergency_number": "emergency_hint"}
"""The content text (`club:<hint>`) shown with a field."""


def read_form(values: Mapping[str, Any], content: Content | None = None) -> ClubSettings | dict[str, str]:
    """The settings from a form's fields, or a clear message for each field that is wrong, in
    the content's words (`club:too_long`...) when it is given and has them, else in English."""
    given = {name: "" if values.get(name) is None else str(values[name]) for name in FIELDS}
    try:
        return ClubSettings.model_validate(given)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else FIELDS[0]
            words = content.templates.get(str(error["type"])) if content is not None else None
            problems.setdefault(name, words({}) if words is not None else error["msg"])
        return problems


def club_key(platform: str, workspace: str) -> str:
    # Shaped like the end of a conversation key, so forgetting a workspace takes it too.
    return f"club:{platform}:{workspace}"


class Clubs:
    """Each club's settings in the store, and the content as each club sees it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._contents: OrderedDict[tuple[str, str, tuple[tuple[str, str], ...]], Content] = OrderedDict()

    async def _read(self, platform: str, workspace: str) -> tuple[dict[str, Any], int | None]:
        stored = await self.store.get(club_key(platform, workspace))
        if stored is None:
            return {}, None
        try:
            data = json.loads(stored.data)
            return (data if isinstance(data, dict) else {}), stored.version
        except ValueError:
            _log.warning("a club's stored settings could not be read; using the defaults")
            return {}, stored.version

    async def get(self, platform: str, workspace: str) -> ClubSettings:
        """The club's settings (all empty when it has set none)."""
        data, _ = await self._read(platform, workspace)
        try:
            return ClubSettings.model_validate(data.get("settings") or {})
        except ValidationError:
            _log.warning("a club's stored settings are no longer valid; using the defaults")
            return ClubSettings()

    async def history(self, platform: str, workspace: str) -> list[dict[str, Any]]:
        """Who changed the club's settings, when, and which fields; oldest first."""
        data, _ = await self._read(platform, workspace)
        return list(data.get("audit") or [])

    async def save(
        self, platform: str, workspace: str, settings: ClubSettings, *, who: str, at: datetime
    ) -> list[str]:
        """Save the club's settings; returns the fields that changed (kept and logged)."""
        for _ in range(8):
            data, version = await self._read(platform, workspace)
            try:
                before = ClubSettings.model_validate(data.get("settings") or {})
            except ValidationError:
                before = ClubSettings()
            changed = [name for name in FIELDS if getattr(before, name) != getattr(settings, name)]
            if not changed:
                return []
            entry = {"who": who, "at": at.isoformat(timespec="seconds"), "fields": changed}
            audit = [*(data.get("audit") or []), entry][-_AUDIT_KEPT:]
            fresh = json.dumps({"settings": settings.model_dump(), "audit": audit})
            if await self.store.compare_and_set(club_key(platform, workspace), version, fresh, _KEEP):
                audit_log.warning(
                    "club settings changed: club=%s:%s by=%s at=%s fields=%s",
                    platform, workspace, who, entry["at"], ",".join(changed),
                )  # fmt: skip
                return changed
        raise ConflictError("the club's settings kept changing")

    def content(self, base: Content, settings: ClubSettings) -> Content:
        """`base` with the club's values laid over it (kept for the next event of that club)."""
        values = tuple(sorted((k, v) for k, v in settings.values().items() if v))
        if not values:
            return base
        key = (base.version, base.locale, values)
        found = self._contents.get(key)
        if found is None:
            found = with_club(base, dict(values))
            self._contents[key] = found
            while len(self._contents) > 256:
                self._contents.popitem(last=False)
        self._contents.move_to_end(key)
        return found
