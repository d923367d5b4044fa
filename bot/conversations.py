"""The conversations service: load a runner's state, drop duplicates, step the engine, save.

Adapters call `handle` and render what comes back. Saving is a compare-and-set, so two workers
(or a double-click) can never both advance one conversation: the loser reads the winner's state
and applies its event to that.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pydantic import ValidationError

from bot import engine
from bot.clubs import Clubs, ClubSettings
from bot.content import Content, ContentSource, locales
from bot.errors import ConflictError, StoreError
from bot.lookup import lookup, topic_names
from bot.model import Choice, ConversationKey, Event, Question, Reply, State
from bot.stores import Store

__all__ = ["Conversations"]

_log = logging.getLogger(__name__)

_ATTEMPTS = 8
_EVENT_MEMORY = timedelta(hours=1)


class Conversations:
    def __init__(self, content: Content | ContentSource, store: Store, retention: timedelta) -> None:
        self._source = content
        self.store = store
        self.retention = retention
        self.clubs = Clubs(store)

    @property
    def content(self) -> Content:
        """The content serving now in the default language (reloaded when its files change)."""
        return self.content_for(None)

    def content_for(self, locale: str | None, club: ClubSettings | None = None) -> Content:
        """The content in a language, as a club sees it when one is given: its own values over
        the files', and its default language for a runner whose own kneebot does not speak."""
        if club is not None and club.language:
            code = (locale or "").replace("_", "-").split("-")[0].lower()
            locale = locale if code in locales() else club.language
        source = self._source
        content = source.current(locale) if isinstance(source, ContentSource) else source
        return self.clubs.content(content, club) if club is not None else content

    async def club(self, key: ConversationKey) -> ClubSettings:
        """The settings of the club (workspace, server) a runner writes from."""
        return await self.clubs.get(key.platform, key.workspace)

    async def handle(self, key: ConversationKey, event: Event) -> list[Reply]:
        """Apply one event to the runner's conversation and return what to send them."""
        try:
            return await self._handle(key, event)
        except StoreError as exc:
            # The process keeps running; the store's client reconnects on the next event.
            _log.error("store failed (%s): %s", type(exc).__name__, exc)
            return [self._retry("store_down", event.locale)]
        except Exception:
            # Log the failure, never the event: it may hold what the runner typed.
            _log.exception("could not handle a %s event", event.kind)
            return [self._retry("error", event.locale)]

    def _retry(self, message: str, locale: str | None) -> Reply:
        """An apology that still waits for the runner: `Carry on` asks the question again."""
        content = self.content_for(locale)
        choice = Choice("resume", content.messages.resume_label)
        return Reply(engine.render_message(content, message), Question(None, "single", (choice,)))

    def message(
        self, name: str, *, locale: str | None = None, club: ClubSettings | None = None, **extra: str
    ) -> str:
        """One of the bot's own messages that needs no conversation (`goodbye`, `help`)."""
        return engine.render_message(self.content_for(locale, club), name, **extra)

    def lookup(
        self,
        topic: str,
        args: str,
        *,
        command: str,
        now: datetime | None = None,
        locale: str | None = None,
        club: ClubSettings | None = None,
    ) -> Reply:
        """Anyone's `<command> <topic> [args]`: a short answer that starts no triage."""
        when = now or datetime.now().astimezone()
        try:
            return lookup(self.content_for(locale, club), topic, args, now=when, command=command)
        except Exception:
            _log.exception("lookup failed")
            return Reply(self.message("error"))

    def topics(self, locale: str | None = None) -> list[tuple[str, str]]:
        """(id, title) of every topic, for autocomplete."""
        return topic_names(self.content_for(locale))

    async def forget(self, key: ConversationKey) -> None:
        """Delete everything kept about this runner: their conversations in every workspace and
        on every platform of the store, and every event id that names them."""
        await self.store.forget_user(key.user)

    async def _handle(self, conversation: ConversationKey, event: Event) -> list[Reply]:
        key = str(conversation)
        if event.id is not None:
            fresh = await self.store.first_sighting(event.id, _EVENT_MEMORY.total_seconds())
            if not fresh:
                _log.info("dropped a repeated %s event", event.kind)
                return []
        club = await self.club(conversation)
        written: tuple[str, list[Reply]] | None = None
        for _ in range(_ATTEMPTS):
            stored = await self.store.get(key)
            if written is not None and stored is not None and stored.data == written[0]:
                # Our write landed but its answer was lost (a reconnect re-sent it, and the re-send
                # found the version moved on): it is done, and must not be applied twice.
                return written[1]
            state = self._decode(stored.data) if stored else None
            # A check keeps the language it started in; a new one takes the platform's.
            content = self.content_for(state.locale if state and state.locale else event.locale, club)
            result = engine.step(content, state, event)
            if not result.changed:
                return list(result.replies)
            if result.state is None:
                await self.forget(conversation)
                return list(result.replies)
            saved = result.state
            if saved.locale != content.locale:
                saved = saved.model_copy(update={"locale": content.locale})
            data = saved.model_dump_json(exclude_defaults=True)
            expected = stored.version if stored else None
            ttl = self.retention.total_seconds()
            if await self.store.compare_and_set(key, expected, data, ttl):
                return list(result.replies)
            written = (data, list(result.replies))
        raise ConflictError(f"conversation kept changing over {_ATTEMPTS} attempts")

    def _decode(self, data: str) -> State | None:
        try:
            return State.model_validate_json(data)
        except ValidationError:
            _log.warning("a stored conversation could not be read; starting it afresh")
            return None
