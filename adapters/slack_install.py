"""A hosted bot any club installs: bolt's "Add to Slack" OAuth flow, one bot token per workspace.

With `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` (and no `SLACK_BOT_TOKEN`), `kneebot slack --http`
serves `/slack/install` and `/slack/oauth_redirect` beside `/slack/events`. Installations and the
OAuth states live on the conversations' own backend: in the `KNEEBOT_STORE` SQLite file (slack_sdk's
SQLite stores, in their own tables) or in Redis (the small stores below, on the store's client, one
key per call so a Redis Cluster serves them too). bolt then answers each workspace's events with
that workspace's own token.

Uninstalling the app (`app_uninstalled`), or Slack revoking its bot token (`tokens_revoked`),
deletes that workspace's installation, its club settings, every conversation of its runners and
their event ids, so the old token is never used again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore

from bot.conversations import Conversations
from bot.errors import ConfigError, StoreError
from bot.stores import Store

__all__ = ["SCOPES", "RedisInstallationStore", "RedisOAuthStateStore", "oauth_settings", "wire"]

_log = logging.getLogger(__name__)

SCOPES = ("commands", "chat:write", "im:write", "im:history", "users:read")
STATE_SECONDS = 600


class _SQLiteInstallations(SQLite3InstallationStore):
    """slack_sdk's SQLite installation store, overwriting what it deletes (tokens leave the file)."""

    def connect(self) -> sqlite3.Connection:
        connection = super().connect()
        connection.execute("PRAGMA secure_delete=ON")
        return connection


def _slot(enterprise_id: str | None, team_id: str | None) -> str:
    return f"{enterprise_id or '-'}:{team_id or '-'}"


class RedisInstallationStore(AsyncInstallationStore):
    """The latest installation and its bot per workspace, as JSON under one key each."""

    def __init__(self, client: Any, client_id: str) -> None:
        self._redis = client
        self._prefix = f"kneebot:slack:{client_id}:"

    @property
    def logger(self) -> logging.Logger:
        return _log

    async def async_save(self, installation: Installation) -> None:
        slot = _slot(installation.enterprise_id, installation.team_id)
        await self._redis.set(f"{self._prefix}install:{slot}", json.dumps(installation.__dict__))
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        slot = _slot(bot.enterprise_id, bot.team_id)
        await self._redis.set(f"{self._prefix}bot:{slot}", json.dumps(bot.__dict__))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        found = await self._redis.get(
            f"{self._prefix}bot:{_slot(enterprise_id, None if is_enterprise_install else team_id)}"
        )
        return Bot(**json.loads(found)) if found else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        slot = _slot(enterprise_id, None if is_enterprise_install else team_id)
        found = await self._redis.get(f"{self._prefix}install:{slot}")
        if not found:
            return None
        installation = Installation(**json.loads(found))
        return installation if user_id is None or installation.user_id == user_id else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._redis.delete(f"{self._prefix}bot:{_slot(enterprise_id, team_id)}")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._redis.delete(f"{self._prefix}install:{_slot(enterprise_id, team_id)}")


class RedisOAuthStateStore(AsyncOAuthStateStore):
    """OAuth states that expire by themselves and can be consumed once."""

    def __init__(self, client: Any, expiration_seconds: int) -> None:
        self._redis = client
        self._seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return _log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = str(uuid.uuid4())
        await self._redis.set(f"kneebot:slack:state:{state}", "1", ex=self._seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        return bool(await self._redis.delete(f"kneebot:slack:state:{state}"))


def stores_for(store: Store, client_id: str) -> tuple[AsyncInstallationStore, AsyncOAuthStateStore]:
    """The installation and state stores on the same backend as the conversations."""
    from bot.stores.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        database = str(store.path)
        return (
            _SQLiteInstallations(database=database, client_id=client_id, logger=_log),
            SQLite3OAuthStateStore(database=database, expiration_seconds=STATE_SECONDS, logger=_log),
        )
    try:
        from bot.stores.redis import RedisStore
    except ImportError:  # pragma: no cover - redis is a dependency
        RedisStore = None  # type: ignore[assignment,misc]
    if RedisStore is not None and isinstance(store, RedisStore):
        return RedisInstallationStore(store.client, client_id), RedisOAuthStateStore(
            store.client, STATE_SECONDS
        )
    raise ConfigError(
        "Add to Slack keeps every club's installation, so it needs a store that lasts: "
        "set KNEEBOT_STORE to sqlite:///... or redis://..."
    )


def oauth_settings(
    store: Store, *, client_id: str, client_secret: str, redirect_uri: str | None = None
) -> AsyncOAuthSettings:
    """bolt's OAuth settings with every value given here (bolt reads none from the environment)."""
    installations, states = stores_for(store, client_id)
    return AsyncOAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(SCOPES),
        user_scopes=[],
        redirect_uri=redirect_uri,
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=installations,
        state_store=states,
        state_expiration_seconds=STATE_SECONDS,
        logger=logging.getLogger("slack_bolt.oauth"),
    )


def wire(app: AsyncApp, service: Conversations) -> None:
    """Forget a workspace when it uninstalls the app or Slack revokes its bot token."""
    installations = app.installation_store
    if installations is None:
        return

    async def forget(context: AsyncBoltContext, why: str) -> None:
        team = context.team_id or context.enterprise_id
        await installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        if team:
            try:
                gone = await service.store.forget_workspace("slack", team)
            except StoreError as exc:
                _log.error("a workspace's conversations could not be deleted (%s): %s", why, exc)
                raise
            _log.warning("%s: deleted workspace %s's installation and %d conversation(s)", why, team, gone)

    @app.event("app_uninstalled")
    async def uninstalled(context: AsyncBoltContext) -> None:
        await forget(context, "app uninstalled")

    @app.event("tokens_revoked")
    async def revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        # bolt's own handling deletes the bot row only; the installation would keep the token.
        if (event.get("tokens") or {}).get("bot"):
            await forget(context, "bot token revoked")
