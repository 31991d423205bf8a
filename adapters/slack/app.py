"""The bolt AsyncApp: credentials for the configured mode, Web API clients, OAuth and listeners."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.stores import ThreadedInstallationStore, ThreadedOAuthStateStore
from bot.config import ConfigError, Secrets, SlackConfig

log = logging.getLogger("adapters.slack")
bolt_log = logging.getLogger("adapters.slack.bolt")
# The Web API client logs whole request and response bodies at DEBUG, oauth.v2.access's answer
# (a new workspace's bot token) included: it gets a logger in slack_sdk's namespace, which
# logging set-up keeps at WARNING like the library's own, --debug or not.
sdk_log = logging.getLogger("slack_sdk.papers_bot")


class _QuietClientTokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from os.environ by itself and warns that it goes unused when a
    # client is given; the client here carries that very token (or none, with OAuth).
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


bolt_log.addFilter(_QuietClientTokenWarning())

# What the app asks for when installed through OAuth; keep in step with manifest.yaml.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "channels:history",
    "groups:history",
)
EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


@dataclass(frozen=True, slots=True)
class SlackCredentials:
    """The Slack secrets the configured mode needs. ``repr`` names which are set, never values."""

    mode: str
    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def oauth(self) -> bool:
        """Installable in many workspaces (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set)."""
        return bool(self.client_id and self.client_secret)

    def __repr__(self) -> str:
        names = ("bot_token", "app_token", "signing_secret", "client_id", "client_secret")
        have = [n for n in names if getattr(self, n)]
        return f"SlackCredentials(mode={self.mode!r}, set={have})"

    @classmethod
    def from_secrets(cls, config: SlackConfig, secrets: Secrets) -> SlackCredentials:
        """What ``secrets`` hold for Slack, unchecked (see ``problem``)."""
        return cls(
            mode=config.mode,
            bot_token=secrets.get("SLACK_BOT_TOKEN"),
            app_token=secrets.get("SLACK_APP_TOKEN"),
            signing_secret=secrets.get("SLACK_SIGNING_SECRET"),
            client_id=secrets.get("SLACK_CLIENT_ID"),
            client_secret=secrets.get("SLACK_CLIENT_SECRET"),
        )

    def problem(self, *, sending: bool = False) -> ConfigError | None:
        """The ConfigError naming the first missing environment variable, or None. ``sending``:
        only what posting messages needs (a bot token, or the installations' through OAuth)."""
        if bool(self.client_id) != bool(self.client_secret):
            missing = "SLACK_CLIENT_SECRET" if self.client_id else "SLACK_CLIENT_ID"
            return ConfigError(
                f"{missing} is not set: installing in many workspaces (OAuth) needs both "
                "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
            )
        if not sending and self.mode == "socket" and not self.app_token:
            return ConfigError(
                "SLACK_APP_TOKEN is not set: slack.mode socket needs an app-level token "
                "(xapp-...) with the connections:write scope"
            )
        if not sending and self.mode == "http" and not self.signing_secret:
            return ConfigError(
                "SLACK_SIGNING_SECRET is not set: slack.mode http needs the app's signing secret "
                "to verify Slack's requests"
            )
        if not self.bot_token and not self.oauth:
            return ConfigError(
                "SLACK_BOT_TOKEN is not set: one workspace needs the bot token (xoxb-...); "
                "many workspaces need SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
            )
        return None

    @classmethod
    def load(cls, config: SlackConfig, secrets: Secrets) -> SlackCredentials:
        """The credentials ``config.mode`` needs from ``secrets``; ConfigError naming the first
        missing environment variable."""
        creds = cls.from_secrets(config, secrets)
        problem = creds.problem()
        if problem is not None:
            raise problem
        return creds


def retry_handlers() -> list[AsyncRetryHandler]:
    """Retries for every Web API call: rate limits (honouring Retry-After, five times), 500/503
    and dropped connections."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]


def web_client(api_url: str, token: str | None = None) -> AsyncWebClient:
    """An AsyncWebClient on ``api_url`` (slack.api_url) with the bot's retry handlers."""
    return AsyncWebClient(
        token=token, base_url=api_url, retry_handlers=retry_handlers(), logger=sdk_log
    )


def build_bolt_app(
    config: SlackConfig,
    creds: SlackCredentials,
    installations: ThreadedInstallationStore | None,
    states: ThreadedOAuthStateStore | None,
) -> AsyncApp:
    """The bolt AsyncApp for ``creds``; listeners are added by ``listeners.register``.

    Every value is passed explicitly, so bolt never falls back to os.environ on its own."""
    client = web_client(config.api_url, None if creds.oauth else creds.bot_token)
    oauth_settings = None
    if creds.oauth:
        assert creds.client_id and creds.client_secret and installations and states
        oauth_settings = AsyncOAuthSettings(
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            installation_store=installations,
            state_store=states,
            logger=log,
        )
    return AsyncApp(
        name="papers-bot",
        logger=bolt_log,
        client=client,
        # Socket Mode requests arrive over an authenticated socket and carry no signature.
        signing_secret=creds.signing_secret or "",
        request_verification_enabled=creds.mode == "http",
        oauth_settings=oauth_settings,
        installation_store=installations,
        # Listeners ack and hand their work to tasks (see adapters.slack.listeners).
        process_before_response=True,
    )
