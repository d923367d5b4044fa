"""The conversations service: load a runner's state, drop duplicates, step the engine, save.

Adapters call `handle` and render what comes back. Saving is a compare-and-set, so two workers
(or a double-click) can never both advance one conversation: the loser reads the winner's state
and applies its event to that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from bot import engine
from bot.clubs import Clubs, ClubSettings
from bot.content import Content, ContentSource, locales
from bot.errors import ConflictError, StoreError
from bot.lookup import lookup, topic_names
from bot.model import Choice, ConversationKey, Event, Question, Reply, State
from bot.stores import Store

__all__ = ["Conversations", "club_of", "iso_week"]

_log = logging.getLogger(__name__)

_ATTEMPTS = 8
_EVENT_MEMORY = timedelta(hours=1)
_LEASE = 120.0
"""Seconds a claimed check-in is held by the process that claimed it before another may."""


def club_of(key: ConversationKey) -> str:
    """The club a runner belongs to in the anonymous numbers: platform and workspace, no user."""
    return f"{key.platform}:{key.workspace}"


def iso_week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


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
        clubs: dict[str, ClubSettings] = {}
        written: tuple[str, list[Reply]] | None = None
        for _ in range(_ATTEMPTS):
            stored = await self.store.get(key)
            if written is not None and stored is not None and stored.data == written[0]:
                # Our write landed but its answer was lost (a reconnect re-sent it, and the re-send
                # found the version moved on): it is done, and must not be applied twice.
                return written[1]
            state = self._decode(stored.data) if stored else None
            # A check moved from its club (a check-in in the runner's DM) keeps that club's
            # settings and counts in its numbers, as does a new check started there.
            origin = state.club if state is not None else ""
            home = origin or club_of(conversation)
            if home not in clubs:
                platform, _, workspace = home.partition(":")
                clubs[home] = await self.clubs.get(platform, workspace)
            club = clubs[home]
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
                saved = saved.evolve(locale=content.locale)
            if origin and saved.club != origin:
                saved = saved.evolve(club=origin)
            # An accepted check-in keeps the conversation until it is due, plus the retention.
            now = event.at.timestamp()
            ttl = self.retention.total_seconds() + max(0.0, (saved.due or now) - now)
            saved = saved.evolve(kept_until=round(now + ttl))
            data = saved.to_json()
            expected = stored.version if stored else None
            if await self.store.compare_and_set(key, expected, data, ttl):
                await self._after_save(conversation, event, state, saved, result.tally, home)
                return list(result.replies)
            written = (data, list(result.replies))
        raise ConflictError(f"conversation kept changing over {_ATTEMPTS} attempts")

    async def _after_save(
        self,
        key: ConversationKey,
        event: Event,
        before: State | None,
        saved: State,
        tally: tuple[str, ...],
        club: str,
    ) -> None:
        """Keep the check-in job in step with the state, and count for the club's numbers. The
        state is saved already: a failure here is logged, and the runner's turn goes on."""
        try:
            if saved.due != (before.due if before else None):
                await self.store.schedule(str(key), saved.due)
            for name in tally:
                await self.store.count(club, iso_week(event.at), name)
        except StoreError as exc:
            _log.error("could not keep a check-in or a count (%s)", type(exc).__name__)

    async def due_check_ins(
        self,
        platform: str,
        now: datetime | None = None,
        lease: float = _LEASE,
        home: Callable[[ConversationKey], ConversationKey] | None = None,
    ) -> list[tuple[ConversationKey, list[Reply]]]:
        """Claim this platform's check-ins that are due and step each conversation to its
        *How is your knee?*; the replies to deliver, by runner. A check-in already asked (by
        another process, or the terminal) or gone with its conversation gives nothing.

        `home` names where the runner will answer it (Discord: their DM with the bot, whatever
        server the check started in); the conversation moves there first, unless one is there."""
        at = now or datetime.now().astimezone()
        found: list[tuple[ConversationKey, list[Reply]]] = []
        for claimed in await self.store.claim_due(platform, at.timestamp(), lease):
            parts = claimed.split(":", 2)
            if len(parts) != 3:
                await self.store.schedule(claimed, None)
                continue
            key = ConversationKey(*parts)
            target = home(key) if home is not None else key
            if target != key and await self._move(key, target, at):
                await self.store.schedule(claimed, None)
                key = target
            replies = await self.handle(key, Event("check_in", at))
            if not any(r.question and r.question.fact == "check_in_progress" for r in replies):
                replies = []  # an apology for a store that failed is not a check-in to send
            stored = await self.store.get(str(key))
            state = self._decode(stored.data) if stored else None
            if state is None or state.due is None:
                await self.store.schedule(str(key), None)  # asked now, or nothing left to ask
            elif state.due > at.timestamp():
                await self.store.schedule(str(key), state.due)
            if replies:
                found.append((key, replies))
        return found

    async def postpone_check_in(self, key: ConversationKey, at: datetime) -> bool:
        """A check-in asked but never delivered (the platform failed for now): put it back, due
        at `at`, as if it had not been asked, for the next look to ask it again. False if the
        conversation has moved on (answered, forgotten) or the store is down (then it is lost,
        and logged)."""
        try:
            for _ in range(_ATTEMPTS):
                stored = await self.store.get(str(key))
                state = self._decode(stored.data) if stored else None
                if stored is None or state is None or state.after != "check_in_progress" or state.due:
                    return False
                due = at.timestamp()
                back = state.evolve(after=None, due=due)
                ttl = self._time_left(state, due)
                if await self.store.compare_and_set(str(key), stored.version, back.to_json(), ttl):
                    await self.store.schedule(str(key), due)
                    return True
        except StoreError as exc:
            _log.error("a check-in that could not be sent could not be kept either (%s)", type(exc).__name__)
        return False

    async def _move(self, source: ConversationKey, target: ConversationKey, at: datetime) -> bool:
        """Move a conversation to another key, if nothing is kept there; True if it moved."""
        stored = await self.store.get(str(source))
        state = self._decode(stored.data) if stored else None
        if stored is None or state is None:
            return False
        ttl = self._time_left(state, at.timestamp())
        moved = state.evolve(club=state.club or club_of(source))  # its club goes with it
        if not await self.store.compare_and_set(str(target), None, moved.to_json(), ttl):
            return False
        await self.store.delete(str(source))
        return True

    def _time_left(self, state: State, now: float) -> float:
        """Seconds a stored conversation has left as of `now` (a minute at least), when it is
        written again without a turn: what its last save gave it, or the retention."""
        return max(60.0, state.kept_until - now) if state.kept_until else self.retention.total_seconds()

    def _decode(self, data: str) -> State | None:
        try:
            return State.from_json(data)
        except ValidationError:
            _log.warning("a stored conversation could not be read; starting it afresh")
            return None
