"""Configuration: a YAML file plus ``PAPERS_BOT_<SECTION>__<KEY>`` environment overrides.

Secrets (Slack and Discord tokens) are read from the environment only, never from the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.models import Platform, Target, TargetError

ENV_PREFIX = "PAPERS_BOT_"

_YAML_INT = "tag:yaml.org,2002:int"
# YAML 1.1's integers without its base-60 form, in which ``time: 10:30`` is the number 630.
_DECIMAL_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that ``10:30`` is a string (as in YAML 1.2), so a time of
    day needs no quotes."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML reads it from the class
        first: [(tag, _DECIMAL_INT if tag == _YAML_INT else rx) for tag, rx in resolvers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


DEFAULT_CONFIG = Path("config.yaml")
DEFAULT_DATABASE_URL = "sqlite:///papers.db"
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ConfigError(ValueError):
    """A configuration problem, phrased as one line naming the key."""


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone, else ValueError with a hint."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
        ) from None
    return name


def check_time(value: str) -> str:
    """``HH:MM`` normalised to two-digit hours, else ValueError."""
    m = _TIME_RE.match(str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. 09:30")
    return f"{int(m[1]):02d}:{m[2]}"


TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
TimeOfDay = Annotated[str, AfterValidator(check_time)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(3000, ge=0, le=65535)


class HuggingFaceConfig(_Section):
    base_url: str = "https://huggingface.co"
    timeout: float = Field(15.0, gt=0)
    retries: int = Field(4, ge=0, le=10)
    fetch_interval_minutes: int = Field(30, ge=1)


class SlackConfig(_Section):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    api_url: str = "https://slack.com/api/"
    threads: bool = False
    # Slack user ids allowed to change channel settings when permissions.settings is "managers"
    # (workspace admins and owners always may).
    managers: list[str] = Field(default_factory=list)


class DiscordConfig(_Section):
    enabled: bool = False
    api_url: str = "https://discord.com/api/v10"
    dev_guild_id: int | None = None
    shard_count: int | None = Field(None, ge=1)
    shard_ids: list[int] | None = None


class DigestConfig(_Section):
    time: TimeOfDay = "09:00"
    trending: int = Field(5, ge=0, le=20)
    per_topic: int = Field(3, ge=1, le=10)
    repost_window_days: int = Field(30, ge=0)
    # On a day with no new papers: post nothing ("silent") or one short line saying why ("notice").
    when_empty: Literal["silent", "notice"] = "silent"
    # Topic sections keep only papers scoring at least this (0..1, see Searcher.search); unset:
    # 0.35 with semantic matching on (bot.semantic.HYBRID_MIN_RELEVANCE), and 0.35 without
    # (bot.digest.LEXICAL_MIN_RELEVANCE).
    min_relevance: float | None = Field(None, ge=0.0, le=1.0)


class PermissionsConfig(_Section):
    # Who may subscribe, unsubscribe and change schedules: everyone, or channel managers only.
    settings: Literal["everyone", "managers"] = "everyone"


class SchedulerConfig(_Section):
    grace_hours: float = Field(6.0, ge=0)
    lease_seconds: int = Field(300, ge=2)
    reconcile_seconds: int = Field(60, ge=1)


class SemanticConfig(_Section):
    # Hybrid lexical + embedding search (bot/semantic.py). None: on when the [semantic] extra
    # is installed. Without it, or when the model cannot load, search stays lexical.
    enabled: bool | None = None
    # A sentence-transformers model id on the Hugging Face hub, or a local folder.
    model: str = Field("sentence-transformers/all-MiniLM-L6-v2", min_length=1)


class ChannelConfig(_Section):
    """A channel declared in the config; it seeds the database."""

    id: str
    topics: list[str] = Field(default_factory=list)
    time: TimeOfDay | None = None
    timezone: TimeZoneName | None = None
    weekdays_only: bool = False
    paused: bool = False

    @field_validator("id")
    @classmethod
    def _target(cls, value: str) -> str:
        try:
            target = Target.parse(value)
        except TargetError as e:
            raise ValueError(str(e)) from None
        if target.platform is Platform.WEBHOOK:
            raise ValueError("webhook channels belong under 'webhooks:', not 'channels:'")
        return str(target)

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        for topic in value:
            if not 1 <= len(topic.strip()) <= 200:
                raise ValueError(f"topic {topic!r} must be 1-200 characters")
        return value


class WebhookConfig(_Section):
    """A digest-only target: a Slack incoming webhook or a Discord webhook URL."""

    name: str
    kind: Literal["slack", "discord"] | None = None
    url: SecretStr
    topics: list[str] = Field(default_factory=list)
    time: TimeOfDay | None = None
    timezone: TimeZoneName | None = None
    weekdays_only: bool = False
    paused: bool = False

    @model_validator(mode="after")
    def _infer_kind(self) -> WebhookConfig:
        Target.parse(f"webhook:{self.name}")
        url = self.url.get_secret_value()
        if not url.startswith(("https://", "http://")):
            raise ValueError("url must be an https:// webhook URL")
        if self.kind is None:
            if "hooks.slack.com" in url:
                self.kind = "slack"
            elif "discord.com/api/webhooks" in url or "discordapp.com/api/webhooks" in url:
                self.kind = "discord"
            else:
                raise ValueError(
                    "kind cannot be inferred from the URL; set kind: slack or kind: discord"
                )
        return self


class Settings(BaseSettings):
    """The whole configuration. Values come from (highest first): explicit arguments,
    ``PAPERS_BOT_*`` environment variables, the YAML file, defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )
    yaml_file: ClassVar[Path | None] = None
    yaml_data: ClassVar[dict[str, Any] | None] = None

    database_url: str = DEFAULT_DATABASE_URL
    timezone: TimeZoneName = "UTC"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    server: ServerConfig = Field(default_factory=ServerConfig)
    huggingface: HuggingFaceConfig = Field(default_factory=HuggingFaceConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    permissions: PermissionsConfig = Field(default_factory=PermissionsConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    channels: list[ChannelConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Settings:
        seen: set[str] = set()
        for ch in self.channels:
            if ch.id in seen:
                raise ValueError(f"channel {ch.id} is declared twice")
            seen.add(ch.id)
        names: set[str] = set()
        for hook in self.webhooks:
            if hook.name in names:
                raise ValueError(f"webhook {hook.name!r} is declared twice")
            names.add(hook.name)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.yaml_data:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=cls.yaml_data))
        return tuple(sources)


class Secrets:
    """Tokens from the environment only. ``repr`` never shows them."""

    NAMES = (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "DISCORD_TOKEN",
    )

    def __init__(self, env: dict[str, str] | None = None) -> None:
        source = os.environ if env is None else env
        self._values = {n: source[n] for n in self.NAMES if source.get(n)}

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def values(self) -> list[str]:
        """Every secret value that is set, for log redaction."""
        return list(self._values.values())

    def __repr__(self) -> str:
        return f"Secrets(set={sorted(self._values)})"


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "config"
    msg = first["msg"]
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (see config.example.yaml for the keys)"
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {loc}: {msg}{tail}"


def load_settings(
    path: Path | str | None = None, *, overrides: dict[str, Any] | None = None
) -> Settings:
    """Read the configuration. ``path`` None means ``./config.yaml`` when it exists.

    Raises ConfigError with one readable line naming the offending key."""
    explicit = path is not None
    yaml_path = Path(path) if path is not None else DEFAULT_CONFIG
    source = str(yaml_path)
    data: Any = None
    if not yaml_path.exists():
        if explicit:
            raise ConfigError(f"{yaml_path}: no such config file")
        yaml_path_or_none: Path | None = None
        source = "config"
    else:
        yaml_path_or_none = yaml_path
        try:
            data = yaml.load(yaml_path.read_text(encoding="utf-8"), Loader=YamlLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{yaml_path}: not valid YAML{where}") from None
        except OSError as e:
            raise ConfigError(f"{yaml_path}: cannot read ({e.strerror})") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{yaml_path}: the top level must be a mapping of keys")
    settings_cls = type(
        "_Settings", (Settings,), {"yaml_file": yaml_path_or_none, "yaml_data": data or None}
    )
    try:
        settings: Settings = settings_cls(**(overrides or {}))
    except ValidationError as e:
        raise ConfigError(_format_error(e, source)) from None
    except SettingsError as e:
        raise ConfigError(_environment_error(e)) from None
    return settings


def _environment_error(err: SettingsError) -> str:
    """One line for a variable pydantic-settings could not read (a list or mapping that is not
    JSON): the variables concerned by name, never their values."""
    m = re.search(r'field "(\w+)"', str(err))
    key = f"{ENV_PREFIX}{m[1]}".upper() if m else ENV_PREFIX
    names = sorted(n for n in os.environ if n.upper() == key or n.upper().startswith(key + "__"))
    return (
        f"environment: {', '.join(names) or key + '*'}: not readable; a list or mapping set in"
        f""" the environment is JSON, e.g. {ENV_PREFIX}SLACK__MANAGERS='["U0123", "U0456"]'"""
    )
