"""The Slack adapter: slack-bolt events in, Block Kit messages out.

It translates and nothing more. A `/knee` command, a button click, a checkbox "Done" or a
message in the bot's DM becomes an `Event`; each `Reply` becomes a Block Kit message, built as
plain dicts by a renderer that keeps within Slack's limits itself (the tests hold every payload
they see to slack_sdk's models). The triage runs in the runner's DM with the bot; used in a
channel, `/knee` answers ephemerally that the DM is waiting.

`serve` runs the app until SIGTERM or SIGINT, over Socket Mode or HTTP, with one HTTP session
for every Web API call. A reply that cannot be sent even after slack_sdk's retries is kept in
the store and sent on the runner's next event, so nobody is left waiting on a question that
never arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, Literal

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_home, slack_install
from adapters.health import add_health_routes, health_server, listening
from bot.clubs import ClubSettings
from bot.conversations import Conversations
from bot.errors import ConfigError, KneebotError, StoreError
from bot.model import Answer, ConversationKey, Event, Question, Reply

__all__ = ["Tasks", "build_app", "escape", "mrkdwn", "render", "serve"]

_log = logging.getLogger(__name__)

COMMAND = "/knee"
PICK = "knee_pick"  # a button: its value is {"f": fact or null, "v": value}
MULTI = "knee_multi"  # checkbox toggles; read when Done is clicked
DONE = "knee_done"  # Done under a multi-choice question: its value is the fact
BACK = "knee_back"  # Back under a question: its value is the fact it was shown with

# Block Kit's limits (shared/platforms.md, S6), kept here as the blocks are built. The ids and
# values on buttons and options are the contract's short fact names and values.
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_TEXT = 3000  # the notification fallback: Slack allows more, but it is only a preview
MAX_ACTIONS = 25
MAX_CHECKBOXES = 10
MAX_LABEL = 75  # a button's or an option's text

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's three control characters, so text can never ping `<!channel>` or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """The bot's markdown subset as Slack mrkdwn: *bold*, _italics_, • bullets, <url|links>."""
    text = escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)
    return re.sub(r"(?m)^- ", "• ", text)


def _plain(text: str, limit: int = MAX_LABEL) -> dict[str, Any]:
    return {
        "type": "plain_text",
        "text": text if len(text) <= limit else text[: limit - 1] + "…",
        "emoji": True,
    }


def _section(text: str) -> Block:
    """A section of mrkdwn, at most MAX_SECTION long (see `_sections`)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_SECTION]}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _sections(text: str) -> Iterator[str]:
    """Paragraphs, each within a section's limit (a long one is cut at line ends)."""
    for paragraph in filter(None, (p.strip() for p in text.split("\n\n"))):
        while len(paragraph) > MAX_SECTION:
            cut = paragraph.rfind("\n", 0, MAX_SECTION)
            cut = cut if cut > 0 else MAX_SECTION
            yield paragraph[:cut]
            paragraph = paragraph[cut:].lstrip()
        yield paragraph


def render(reply: Reply) -> list[tuple[str, list[dict[str, Any]]]]:
    """A Reply as Slack messages, each (fallback text, blocks) within Block Kit's limits.

    Nearly always one message; text too long for one is carried on in more, never cut, and the
    question's controls go on the last.
    """
    question = reply.question
    controls = list(_controls(question)) if question else []
    sections = [_section(p) for p in _sections(mrkdwn(reply.text))]
    pages = [sections[i : i + MAX_BLOCKS] for i in range(0, len(sections), MAX_BLOCKS)]
    if not pages or len(pages[-1]) + len(controls) > MAX_BLOCKS:
        pages.append([])
    pages[-1].extend(controls)
    return [(_fallback(page), page) for page in pages]


def _fallback(blocks: list[Block]) -> str:
    """The notification text: the message's words, shortened."""
    text = "\n\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _controls(question: Question) -> Iterator[Block]:
    fact, kind, choices = question.fact, question.kind, question.choices
    block_id = f"q:{fact or '_'}"
    if kind == "multi":
        for start in range(0, len(choices), MAX_CHECKBOXES):
            group = choices[start : start + MAX_CHECKBOXES]
            options = [{"text": _plain(c.label), "value": c.value} for c in group]
            checkboxes = {"type": "checkboxes", "action_id": MULTI, "options": options}
            yield {
                "type": "actions",
                "block_id": f"{block_id}:{start // MAX_CHECKBOXES}",
                "elements": [checkboxes],
            }
        done = _button(question.control("done") or "✓", DONE, fact or "", style="primary")
        yield {"type": "actions", "block_id": f"{block_id}:done", "elements": [done, *_back(question)]}
        return
    buttons = [
        _button(choice.label, f"{PICK}:{index}", json.dumps({"f": fact, "v": choice.value}))
        for index, choice in enumerate(choices)
    ]
    for start in range(0, len(buttons), MAX_ACTIONS):
        yield {
            "type": "actions",
            "block_id": f"{block_id}:{start}",
            "elements": buttons[start : start + MAX_ACTIONS],
        }
    back = list(_back(question))
    if back:
        yield {"type": "actions", "block_id": f"{block_id}:back", "elements": back}
    if kind == "number":
        yield _context(f"✍️ {escape(question.control('type_below'))}")


def _back(question: Question) -> Iterator[dict[str, Any]]:
    """A Back button, when there is an answer to take back."""
    if question.fact and question.control("back"):
        yield _button(question.control("back"), BACK, question.fact)


def _key(context: AsyncBoltContext) -> ConversationKey:
    workspace = context.team_id or context.enterprise_id or "-"
    return ConversationKey("slack", workspace, context.user_id or "-")


def _now() -> datetime:
    return datetime.now().astimezone()


Message = tuple[str, list[dict[str, Any]]]

# What a Web API call can fail with once slack_sdk's own retries are spent.
_SEND_ERRORS = (SlackApiError, aiohttp.ClientError, TimeoutError)

# The libraries log whole payloads (what a runner typed, what they were told) at DEBUG, and
# bolt logs an unhandled request's body at WARNING; only their errors may pass.
_LIBRARY_CAPS = {"slack_bolt": logging.ERROR, "slack_sdk": logging.ERROR, "aiohttp": logging.WARNING}


class _LibraryCap(logging.Filter):
    """Drops the Slack and HTTP libraries' records below their cap, whatever level a logger has."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, cap in _LIBRARY_CAPS.items():
            if record.name == name or record.name.startswith(name + "."):
                return record.levelno >= cap
        return True


def cap_library_logs() -> None:
    """Keep payloads out of every log: cap the loggers and filter every root handler."""
    for name, cap in _LIBRARY_CAPS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(cap, logger.getEffectiveLevel()))
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _LibraryCap) for f in handler.filters):
            handler.addFilter(_LibraryCap())


# Slack's errors that pass with time (besides network errors): worth keeping a reply for.
_PASSING = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def slack_error(exc: Exception) -> str:
    """What Slack said went wrong (`ratelimited`), or the error's kind: never a body's content,
    and never a crash on a body that is not JSON (a proxy's HTML page)."""
    if isinstance(exc, SlackApiError):
        # A body that is not JSON leaves aiohttp's own response here, not a SlackResponse.
        data = getattr(exc.response, "data", None)
        found = data.get("error") if isinstance(data, dict) else None
        return str(found) if found else f"HTTP {_status(exc)}"
    return type(exc).__name__


def _status(exc: SlackApiError) -> int:
    response = exc.response
    return int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)


def _passing(exc: Exception) -> bool:
    if isinstance(exc, SlackApiError):
        return slack_error(exc) in _PASSING or _status(exc) >= 500
    return True


def _unsent_key(key: ConversationKey) -> str:
    # Ends with the user id, so `kneebot forget --user` deletes it with the conversation.
    return f"unsent:{key}"


class Tasks:
    """The Web API work each listener starts right after its ack, tracked so a stop waits for it.

    bolt runs with `process_before_response=True`: the listener's own return is the ack, the
    same way over HTTP and Socket Mode, so a listener only acks and starts its work here.
    """

    def __init__(self) -> None:
        self.running: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The type and where, never the event: it may hold what the runner typed.
            _log.error("slack listener failed: %s", type(error).__name__, exc_info=error)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the work in flight (a stop lets runners get the replies already under way)."""
        if self.running:
            _, late = await asyncio.wait(set(self.running), timeout=timeout)
            if late:
                _log.warning("stopped with %d Slack replies still in flight", len(late))


class _Slack:
    """The listeners, sharing the conversations service."""

    def __init__(self, service: Conversations, tasks: Tasks) -> None:
        self.service = service
        self.tasks = tasks
        self.locales: dict[str, tuple[str | None, float]] = {}

    async def send(
        self, client: AsyncWebClient, channel: str, replies: list[Reply], key: ConversationKey
    ) -> None:
        messages = [message for reply in replies for message in render(reply)]
        await self._post(client, channel, messages, key)

    async def _post(
        self, client: AsyncWebClient, channel: str, messages: list[Message], key: ConversationKey
    ) -> bool:
        """Post in order; what cannot be sent after the client's retries is kept for the next event."""
        for index, (text, blocks) in enumerate(messages):
            try:
                await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            except _SEND_ERRORS as exc:
                if not _passing(exc):
                    raise  # a refusal that sending again would meet again: logged, not kept
                await self._keep_unsent(key, channel, messages[index:], exc)
                return False
        return True

    async def _keep_unsent(
        self, key: ConversationKey, channel: str, messages: list[Message], exc: Exception
    ) -> None:
        reason = slack_error(exc)
        store, name = self.service.store, _unsent_key(key)
        try:
            for _ in range(4):
                stored = await store.get(name)
                kept = json.loads(stored.data)["messages"] if stored else []
                data = json.dumps({"channel": channel, "messages": [*kept, *messages]})
                ttl = self.service.retention.total_seconds()
                if await store.compare_and_set(name, stored.version if stored else None, data, ttl):
                    break
        except StoreError as failed:
            _log.error("a reply could not be sent (%s) nor kept to send later: %s", reason, failed)
            return
        _log.warning(
            "a reply could not be sent (%s); %d message(s) kept for the runner's next event",
            reason,
            len(messages),
        )

    async def resend(self, client: AsyncWebClient, key: ConversationKey) -> bool:
        """Send what an earlier event could not; True if there was something (the event is then
        not taken: the runner has not seen the question it would answer)."""
        store, name = self.service.store, _unsent_key(key)
        try:
            stored = await store.get(name)
            unsent = json.loads(stored.data) if stored else None
            if stored is None or not unsent or not unsent["messages"]:
                return False  # nothing kept, or another event is sending it right now
            # Claim it, so two events at once (a double-click, two workers) send it once.
            claim = json.dumps({"channel": unsent["channel"], "messages": []})
            if not await store.compare_and_set(name, stored.version, claim, 60):
                return False
            await store.delete(name)
        except StoreError:
            return False  # the service reports the store to the runner
        messages = [(text, blocks) for text, blocks in unsent["messages"]]
        if await self._post(client, unsent["channel"], messages, key):
            _log.info("sent %d message(s) an earlier event could not", len(messages))
        return True

    async def user_locale(self, client: AsyncWebClient, user: str) -> str | None:
        """The runner's Slack language (`es-ES`), asked of Slack at most once an hour."""
        now = time.monotonic()
        known = self.locales.get(user)
        if known is not None and known[1] > now:
            return known[0]
        locale: str | None = None
        try:
            found = await client.users_info(user=user, include_locale=True)
            locale = str((found.get("user") or {}).get("locale") or "") or None
        except _SEND_ERRORS as exc:
            reason = slack_error(exc)
            _log.info("no locale for a runner: %s", reason)
        if len(self.locales) > 10_000:
            self.locales.clear()
        self.locales[user] = (locale, now + 3600)
        return locale

    async def open_dm(self, client: AsyncWebClient, user: str) -> str:
        opened = await client.conversations_open(users=user)
        return str(opened["channel"]["id"])

    async def command(
        self,
        ack: AsyncAck,
        respond: AsyncRespond,
        command: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        word, _, rest = (command.get("text") or "").strip().partition(" ")
        word = word.lower()
        key = _key(context)
        if word == "help" or word not in ("", "check", "start", "forget", "mydata"):
            # Acked before the store is read for the club's settings: Slack waits 3 s at most.
            await ack()
            self.tasks.start(self._answer_alone(respond, key, word, rest))
            return
        if word == "forget":
            await ack()  # before the store, which may be slow or locked: Slack waits 3 s at most
            self.tasks.start(self._forget(respond, key))
            return
        if word == "mydata":
            await ack()
            self.tasks.start(self._mydata(respond, client, key))
            return
        in_dm = str(command.get("channel_id", "")).startswith("D")
        if in_dm:
            await ack()
        else:
            await ack(response_type="ephemeral", text=mrkdwn(self.service.message("moved_to_dm")))
        trigger = command.get("trigger_id")
        event_id = f"slack:cmd:{key.workspace}:{trigger}" if trigger else None
        self.tasks.start(self._start(client, key, event_id))

    async def _answer_alone(self, respond: AsyncRespond, key: ConversationKey, word: str, rest: str) -> None:
        """`/knee help` or a topic: a private answer that needs no conversation, in the club's words."""
        club = await self._club(key)
        if word == "help":
            await respond(
                response_type="ephemeral",
                text=mrkdwn(self.service.message("help", club=club, command=COMMAND)),
            )
            return
        text, blocks = render(self.service.lookup(word, rest, command=COMMAND, club=club))[0]
        await respond(response_type="ephemeral", text=text, blocks=blocks)

    async def _club(self, key: ConversationKey) -> ClubSettings | None:
        """The club's settings for an answer that needs no conversation (None if the store is down)."""
        try:
            return await self.service.club(key)
        except StoreError as exc:
            _log.error("store failed (%s): %s", type(exc).__name__, exc)
            return None

    async def _forget(self, respond: AsyncRespond, key: ConversationKey) -> None:
        replies = await self.service.handle(key, Event("forget", _now()))
        with contextlib.suppress(StoreError):  # the reply above already says the store is down
            await self.service.store.delete(_unsent_key(key))
        await respond(response_type="ephemeral", text=mrkdwn(replies[0].text) if replies else "")

    async def _mydata(self, respond: AsyncRespond, client: AsyncWebClient, key: ConversationKey) -> None:
        locale = await self.user_locale(client, key.user)
        replies = await self.service.handle(key, Event("data", _now(), locale=locale))
        text = "\n\n".join(reply.text for reply in replies[:1])
        await respond(response_type="ephemeral", text=mrkdwn(text))

    async def deliver(self, client: AsyncWebClient, key: ConversationKey, replies: list[Reply]) -> None:
        """A check-in that fell due, in the runner's DM. Should Slack fail for now (a 5xx, a
        proxy's page, a rate limit past the client's retries), the check-in is put back to be
        asked at the next look: the runner has no reason to write first, so it is not kept for
        their next event as a reply is."""
        try:
            channel = await self.open_dm(client, key.user)
            for text, blocks in [message for reply in replies for message in render(reply)]:
                await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except _SEND_ERRORS as exc:
            if not _passing(exc):
                raise  # a refusal that asking again would meet again: logged, not kept
            if await self.service.postpone_check_in(key, _now()):
                _log.warning(
                    "a check-in could not be sent (%s); it is asked again at the next look", slack_error(exc)
                )

    async def _start(self, client: AsyncWebClient, key: ConversationKey, event_id: str | None) -> None:
        if await self.resend(client, key):
            return
        locale = await self.user_locale(client, key.user)
        replies = await self.service.handle(key, Event("start", _now(), id=event_id, locale=locale))
        await self.send(client, await self.open_dm(client, key.user), replies, key)

    async def pick(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        try:
            picked = json.loads(action.get("value") or "{}")
            fact, value = picked.get("f"), picked.get("v")
        except (ValueError, AttributeError):
            fact, value = None, None
        label = (action.get("text") or {}).get("text", "")
        self.tasks.start(self._answer(body, client, _key(context), action, fact, value, label))

    async def done(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        fact = action.get("value") or None
        chosen: list[tuple[str, str]] = []
        for block_id, elements in (body.get("state") or {}).get("values", {}).items():
            if block_id.startswith(f"q:{fact}:"):
                for option in (elements.get(MULTI) or {}).get("selected_options") or []:
                    chosen.append((option["value"], option["text"]["text"]))
        value = tuple(v for v, _ in chosen)
        label = ", ".join(t for _, t in chosen)
        self.tasks.start(self._answer(body, client, _key(context), action, fact, value, label))

    async def back(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        fact = action.get("value") or None
        self.tasks.start(self._answer(body, client, _key(context), action, fact, None, "", kind="back"))

    async def _answer(
        self,
        body: dict[str, Any],
        client: AsyncWebClient,
        key: ConversationKey,
        action: dict[str, Any],
        fact: str | None,
        value: Answer | None,
        label: str,
        kind: Literal["answer", "back"] = "answer",
    ) -> None:
        if await self.resend(client, key):
            return
        event_id = f"slack:act:{key.workspace}:{key.user}:{action.get('action_ts')}"
        locale = await self.user_locale(client, key.user)
        event = Event(kind, _now(), id=event_id, value=value, fact=fact, locale=locale)
        replies = await self.service.handle(key, event)
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if not channel:
            channel = await self.open_dm(client, key.user)
        message = body.get("message") or {}
        if replies and replies[0].accepted and message.get("ts"):
            await self._settle(client, channel, message, label)
        await self.send(client, channel, replies, key)

    async def _settle(
        self, client: AsyncWebClient, channel: str, message: dict[str, Any], label: str
    ) -> None:
        """Edit the clicked question so the DM reads as a clean record: its text and the answer."""
        kept = [b for b in message.get("blocks", []) if b.get("type") == "section"]
        blocks = [*kept[: MAX_BLOCKS - 1], _context(f"✅ {escape(label)}")]
        try:
            await client.chat_update(
                channel=channel, ts=message["ts"], text=message.get("text", ""), blocks=blocks
            )
        except _SEND_ERRORS as exc:  # an old or deleted message: the answer still counts
            reason = slack_error(exc)
            _log.warning("could not update the answered question: %s", reason)

    async def message(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        subtype = event.get("subtype")
        if event.get("channel_type") != "im" or subtype not in (None, "file_share") or event.get("bot_id"):
            return
        team = _key(context).workspace
        event_id = f"slack:evt:{team}:{body['event_id']}" if body.get("event_id") else None
        self.tasks.start(self._message(event, client, _key(context), event_id))  # bolt acks on return

    async def _message(
        self, event: dict[str, Any], client: AsyncWebClient, key: ConversationKey, event_id: str | None
    ) -> None:
        if await self.resend(client, key):
            return
        subtype = event.get("subtype")
        text = str(event.get("text") or "")
        locale = await self.user_locale(client, key.user)
        if subtype == "file_share" and not text.strip():
            # Only the words of a message are read: say so, and ask the question again.
            turn = Event("unreadable", _now(), id=event_id, locale=locale)
        else:
            turn = Event("text", _now(), id=event_id, text=text, locale=locale)
        replies = await self.service.handle(key, turn)
        await self.send(client, str(event["channel"]), replies, key)


def build_app(
    service: Conversations,
    *,
    token: str | None,
    signing_secret: str | None = None,
    oauth: AsyncOAuthSettings | None = None,
    api_url: str | None = None,
    session: aiohttp.ClientSession | None = None,
    tasks: Tasks | None = None,
) -> AsyncApp:
    """The bolt app with every listener wired. Without a signing secret it suits Socket Mode only.
    With `oauth` (and no token) it is the hosted app: "Add to Slack", one token per workspace.

    Pass `session` (made inside the running loop) to share one HTTP session across Web API calls,
    and `tasks` to wait for the work listeners start after their acks.
    """
    app = AsyncApp(
        token=None if oauth else token,  # bolt builds the client: given one, it warns the token is unused
        signing_secret=signing_secret,
        oauth_settings=oauth,
        request_verification_enabled=signing_secret is not None,
        logger=logging.getLogger("slack_bolt"),
        process_before_response=True,  # ack as the listener returns; the work runs in `tasks`
    )
    client = app.client  # every listener's client is copied from this one, session and retries too
    if api_url:
        client.base_url = api_url
    client.session = session
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=1),
    ]
    slack = _Slack(service, tasks or Tasks())
    app.command(COMMAND)(slack.command)
    app.action(re.compile(rf"^{PICK}:\d+$"))(slack.pick)
    app.action(DONE)(slack.done)
    app.action(BACK)(slack.back)
    app.event("message")(slack.message)
    slack_home.wire(app, service, slack._start, slack.tasks.start, COMMAND)
    slack_install.wire(app, service)

    @app.action(MULTI)
    async def toggled(ack: AsyncAck) -> None:
        await ack()  # read when Done is clicked

    @app.error
    async def failed(error: Exception, body: dict[str, Any]) -> None:
        # Never log the body: it holds what the runner typed.
        _log.error("slack listener failed: %s", type(error).__name__, exc_info=error)

    return app


async def serve(
    service: Conversations,
    *,
    token: str | None,
    app_token: str | None = None,
    signing_secret: str | None = None,
    oauth: AsyncOAuthSettings | None = None,
    api_url: str | None = None,
    host: str = "0.0.0.0",
    port: int = 3000,
    health_port: int | None = None,
    ready: Callable[[str], None] = lambda _: None,
) -> None:
    """Run until SIGTERM or SIGINT: Socket Mode with an app token, else HTTP on host:port.

    Everything that needs the event loop is made here, inside it. On a signal the connection or
    server is closed, then the HTTP session and the store. Raises KneebotError when Slack refuses
    the app token or cannot be reached at start.
    """
    cap_library_logs()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    session = aiohttp.ClientSession()
    tasks = Tasks()
    try:
        app = build_app(
            service, token=token, signing_secret=None if app_token else signing_secret, oauth=oauth,
            api_url=api_url, session=session, tasks=tasks,
        )  # fmt: skip
        check_ins = loop.create_task(_check_ins(_Slack(service, tasks), app, stop))
        try:
            if app_token:
                async with health_server(service.store, host, health_port):
                    await _socket_mode(app, app_token, stop, ready)
            else:
                await _http(app, service, host, port, stop, ready)
        finally:
            stop.set()
            await check_ins  # it stops at once when `stop` is set
            await tasks.drain()  # no new events now; let the replies under way go out
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await session.close()
        await service.store.close()


CHECK_IN_EVERY = 30.0
"""Seconds between looks for check-ins that fell due."""


async def _check_ins(slack: _Slack, app: AsyncApp, stop: asyncio.Event) -> None:
    """Deliver due check-ins as DMs until `stop`: at start (one may have fallen due while no
    process ran), then every CHECK_IN_EVERY seconds. The store hands each to one process."""
    while not stop.is_set():
        try:
            for key, replies in await slack.service.due_check_ins("slack"):
                client = await _workspace_client(app, key.workspace)
                if client is None:
                    _log.warning(
                        "a due check-in for workspace %s has no installation; not sent", key.workspace
                    )
                    continue
                slack.tasks.start(slack.deliver(client, key, replies))
        except Exception as exc:  # the type only: never what a runner was told
            _log.error("could not look for due check-ins: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_IN_EVERY)


async def _workspace_client(app: AsyncApp, workspace: str) -> AsyncWebClient | None:
    """A client for one workspace outside any event: the one token's, or in the hosted app the
    workspace's own bot token from its installation (None once it is uninstalled)."""
    installations = app.installation_store
    if installations is None:
        return app.client
    bot = await installations.async_find_bot(enterprise_id=None, team_id=workspace)
    if bot is None or not bot.bot_token:
        return None
    base = app.client
    return AsyncWebClient(
        token=bot.bot_token, base_url=base.base_url, session=base.session,
        retry_handlers=base.retry_handlers, logger=base.logger,
    )  # fmt: skip


async def _socket_mode(
    app: AsyncApp, app_token: str, stop: asyncio.Event, ready: Callable[[str], None]
) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app, app_token)
    try:
        try:
            # Asked here rather than by the handler, which would retry a refused token forever.
            opened = await app.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            raise ConfigError(
                f"Slack refused the app token ({slack_error(exc)}): check SLACK_APP_TOKEN"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KneebotError(f"could not reach Slack at {app.client.base_url}: {exc}") from None
        handler.client.wss_uri = str(opened["url"])
        await handler.connect_async()  # type: ignore[no-untyped-call]
        ready("Slack Socket Mode connected")
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def _http(
    app: AsyncApp,
    service: Conversations,
    host: str,
    port: int,
    stop: asyncio.Event,
    ready: Callable[[str], None],
) -> None:
    served = app.web_app(path="/slack/events", port=port)
    add_health_routes(served, service.store)
    async with listening(served, host, port):
        install = f", Add to Slack at http://{host}:{port}/slack/install" if app.oauth_flow else ""
        ready(f"Slack HTTP mode on http://{host}:{port}/slack/events{install}")
        await stop.wait()
