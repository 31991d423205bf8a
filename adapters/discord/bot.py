"""The Discord side of ``/papers``: an application command group, Share buttons that survive
restarts, and the client that carries them.

Callbacks only translate: options become the text ``CommandHandler.handle`` parses, the
interaction becomes an ``Invocation``, and the neutral ``Reply`` is rendered by ``render``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import discord
from discord import app_commands

from adapters.discord import render
from bot.app import App
from bot.models import Invocation, Platform, Reply, Target, shorten

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]

DM_TEXT = (
    "I post digests to server channels, so `/papers` works in a channel of a server I'm in — "
    "not in direct messages. Try it there!"
)
ERROR_TEXT = "Sorry, something went wrong on my side. Please try again in a minute."
GONE_TEXT = (
    "That paper is no longer in my database, so I can't share it. "
    "Search for it again with `/papers search`."
)
CHOICES_MAX = 25
CHOICE_MAX = 100  # Discord's limit for a choice's name and value
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
)
TIME_SUGGESTIONS = ("off", "on", "08:00", "09:00", "09:30", "10:00", "12:00", "17:00")


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() | {"UTC"}))


def _fold(text: str) -> str:
    return text.casefold().replace(" ", "_")


def timezone_choices(current: str) -> list[str]:
    """IANA zone names for what has been typed: names starting with it (or with a part after a
    ``/`` starting with it) first, then names containing it; at most 25."""
    typed = _fold(current.strip())
    if not typed:
        return list(COMMON_ZONES)
    starts: list[str] = []
    contains: list[str] = []
    for zone in _zones():
        folded = _fold(zone)
        if folded.startswith(typed) or any(p.startswith(typed) for p in folded.split("/")[1:]):
            starts.append(zone)
        elif typed in folded:
            contains.append(zone)
    return (starts + contains)[:CHOICES_MAX]


def time_choices(current: str) -> list[str]:
    """Suggestions for the schedule's time option: what was typed (when it may be a time), then
    ``off``, ``on`` and common times that start with it."""
    typed = current.strip()
    out = [t for t in TIME_SUGGESTIONS if t.startswith(typed.casefold())]
    if typed and typed.casefold() not in out and len(typed) <= 8:
        out.insert(0, typed)
    return out[:CHOICES_MAX]


def topic_choices(topics: list[str], current: str) -> list[app_commands.Choice[str]]:
    """A channel's topics matching what was typed (case-insensitive), at most 25. Names and
    values are cut to Discord's 100 characters; ``expand_topic`` restores a cut value."""
    typed = current.strip().casefold()
    # Discord refuses a choice without a name (an empty topic stored before topics were checked).
    matches = [t for t in topics if t.strip() and typed in t.casefold()]
    matches.sort(key=lambda t: not t.casefold().startswith(typed))
    return [
        app_commands.Choice(name=shorten(t, CHOICE_MAX), value=t[:CHOICE_MAX])
        for t in matches[:CHOICES_MAX]
    ]


def expand_topic(topics: list[str], value: str) -> str:
    """The channel's topic a (possibly cut) autocomplete value stands for, else ``value``."""
    if len(value) == CHOICE_MAX:
        folded = value.casefold()
        if not any(t.casefold() == folded for t in topics):
            longer = [t for t in topics if t.casefold().startswith(folded)]
            if len(longer) == 1:
                return longer[0]
    return value


def _kwargs(body: dict[str, Any]) -> dict[str, Any]:
    """discord.py keyword arguments for a rendered body (interaction responses and follow-ups)."""
    kwargs: dict[str, Any] = {
        "content": body.get("content"),
        "embeds": [discord.Embed.from_dict(e) for e in body.get("embeds", ())],
        "allowed_mentions": discord.AllowedMentions.none(),
        "ephemeral": bool(body.get("flags", 0) & render.EPHEMERAL_FLAG),
    }
    rows = body.get("components")
    if rows:
        view = discord.ui.View(timeout=None)
        for row in rows:
            for button in row["components"]:
                paper_id = button["custom_id"].removeprefix(render.SHARE_PREFIX)
                view.add_item(ShareButton(paper_id, label=button["label"]))
        kwargs["view"] = view
    return kwargs


class PapersCommands:
    """What the ``/papers`` callbacks and Share buttons do, against the bot's core."""

    # Commands that answer in well under Discord's 3 seconds are not deferred; if one takes
    # longer than this, it is deferred after all.
    defer_after: float = 2.0

    def __init__(self, app: App) -> None:
        self.app = app

    def invocation(self, interaction: Interaction) -> Invocation | None:
        """Who typed a command and where; None outside a server (DMs)."""
        if interaction.guild_id is None or interaction.channel_id is None:
            return None
        if self.app.settings.permissions.settings == "everyone":
            can_manage = True
        else:
            perms = interaction.permissions
            can_manage = perms.manage_channels or perms.administrator
        return Invocation(
            target=Target(Platform.DISCORD, str(interaction.guild_id), str(interaction.channel_id)),
            user_id=str(interaction.user.id),
            user_name=interaction.user.display_name,
            can_manage=can_manage,
        )

    async def run(self, interaction: Interaction, text: str, *, slow: bool = False) -> None:
        """Answer ``/papers <text>``: ``slow`` commands are deferred (ephemerally) at once, the
        others only when they take longer than ``defer_after`` seconds."""
        who = self.invocation(interaction)
        if who is None:
            await interaction.response.send_message(DM_TEXT, ephemeral=True)
            return
        if slow:
            await interaction.response.defer(ephemeral=True, thinking=True)
        work = asyncio.ensure_future(asyncio.to_thread(self.app.commands.handle, text, who))
        if not slow:
            done, _ = await asyncio.wait({work}, timeout=self.defer_after)
            if not done:
                await interaction.response.defer(ephemeral=True, thinking=True)
        await self.answer(interaction, await work)

    async def answer(self, interaction: Interaction, reply: Reply) -> None:
        """Send ``reply`` as the interaction's response (and follow-ups when it needs several
        messages). After an ephemeral deferral, a public reply is acknowledged privately and
        then posted as a public follow-up."""
        bodies = render.reply_messages(reply)
        if not interaction.response.is_done():
            await interaction.response.send_message(**_kwargs(bodies[0]))
            bodies = bodies[1:]
        elif not reply.ephemeral:
            await interaction.followup.send("Done.", ephemeral=True)
        for body in bodies:
            await interaction.followup.send(**_kwargs(body))

    async def topics(self, interaction: Interaction) -> list[str]:
        """The topics of the channel ``interaction`` comes from."""
        who = self.invocation(interaction)
        if who is None:
            return []
        channel = await asyncio.to_thread(self.app.store.get_channel, who.target)
        return list(channel.topics) if channel is not None else []

    async def share(self, interaction: Interaction, paper_id: str) -> None:
        """Post a paper's embed publicly, "shared by" the person who clicked."""
        if interaction.guild_id is None:
            await interaction.response.send_message(DM_TEXT, ephemeral=True)
            return
        paper = await asyncio.to_thread(self.app.store.get_paper, paper_id)
        if paper is None:
            await interaction.response.send_message(GONE_TEXT, ephemeral=True)
            return
        body = render.share_message(paper, interaction.user.id)
        await interaction.response.send_message(**_kwargs(body))


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=re.compile(re.escape(render.SHARE_PREFIX) + r"(?P<id>[A-Za-z0-9._/-]{1,80})"),
):
    """The Share button under a search result. Its ``custom_id`` (``papers:share:<arxiv id>``)
    carries everything it needs, so buttons keep working after a restart."""

    def __init__(self, paper_id: str, *, label: str = "Share") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=render.SHARE_PREFIX + paper_id,
            )
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ShareButton:
        return cls(match["id"])

    async def callback(self, interaction: Interaction) -> None:
        commands = getattr(interaction.client, "papers", None)
        if not isinstance(commands, PapersCommands):
            return
        try:
            await commands.share(interaction, self.paper_id)
        except Exception:
            log.exception("sharing paper %s failed", self.paper_id)
            await _say_sorry(interaction)


async def _say_sorry(interaction: Interaction, text: str = ERROR_TEXT) -> None:
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about an error (interaction expired?)")


class PapersGroup(app_commands.Group):
    """``/papers`` and its subcommands, as PRODUCT.md lists them."""

    def __init__(self, commands: PapersCommands) -> None:
        super().__init__(
            name="papers", description="Hugging Face Daily Papers: search, trending, digests"
        )
        self.papers = commands

    @app_commands.command(description="The best-matching papers for a topic")
    @app_commands.describe(topic="What to look for, e.g. diffusion models")
    async def search(
        self, interaction: Interaction, topic: app_commands.Range[str, 1, 200]
    ) -> None:
        await self.papers.run(interaction, f"search {topic}", slow=True)

    @app_commands.command(description="Today's most upvoted papers")
    @app_commands.describe(count="How many (1-20, default 5)")
    async def trending(
        self, interaction: Interaction, count: app_commands.Range[int, 1, 20] | None = None
    ) -> None:
        text = "trending" if count is None else f"trending {count}"
        await self.papers.run(interaction, text, slow=True)

    @app_commands.command(description="Add a topic section to this channel's digest")
    @app_commands.describe(topic="A topic, e.g. mixture of experts")
    async def subscribe(
        self, interaction: Interaction, topic: app_commands.Range[str, 1, 200]
    ) -> None:
        await self.papers.run(interaction, f"subscribe {topic}")

    @app_commands.command(description="Remove a topic from this channel's digest")
    @app_commands.describe(topic="One of this channel's topics")
    async def unsubscribe(
        self, interaction: Interaction, topic: app_commands.Range[str, 1, 200]
    ) -> None:
        topic = expand_topic(await self.papers.topics(interaction), topic)
        await self.papers.run(interaction, f"unsubscribe {topic}")

    @unsubscribe.autocomplete("topic")
    async def _unsubscribe_topic(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return topic_choices(await self.papers.topics(interaction), current)

    @app_commands.command(description="This channel's topics and schedule")
    async def topics(self, interaction: Interaction) -> None:
        await self.papers.run(interaction, "topics")

    @app_commands.command(description="When this channel's digest is posted, or off / on")
    @app_commands.describe(
        time="HH:MM (24 h), or off to pause, on to resume",
        timezone="IANA time zone, e.g. Europe/Berlin",
        weekdays="True: Monday to Friday only; False: every day",
    )
    async def schedule(
        self,
        interaction: Interaction,
        time: app_commands.Range[str, 1, 20] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        weekdays: bool | None = None,
    ) -> None:
        await self.papers.run(interaction, schedule_text(time, timezone, weekdays))

    @schedule.autocomplete("time")
    async def _schedule_time(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=t, value=t) for t in time_choices(current)]

    @schedule.autocomplete("timezone")
    async def _schedule_timezone(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in timezone_choices(current)]

    @app_commands.command(description="Preview the digest this channel would get now")
    async def digest(self, interaction: Interaction) -> None:
        await self.papers.run(interaction, "digest", slow=True)

    @app_commands.command(name="help", description="How to use /papers, with examples")
    async def help_(self, interaction: Interaction) -> None:
        await self.papers.run(interaction, "help")


def schedule_text(time: str | None, timezone: str | None, weekdays: bool | None) -> str:
    """The ``schedule`` command text for the Discord options (``off``/``on`` stand alone)."""
    words = ["schedule"]
    if time is not None and time.strip().casefold() in ("off", "on", "pause", "resume"):
        return f"schedule {time.strip()}"
    if time is not None:
        words.append(time.strip())
    if timezone is not None:
        words.append("_".join(timezone.split()))
    if weekdays is not None:
        words.append("weekdays" if weekdays else "daily")
    return " ".join(words)


class PapersTree(app_commands.CommandTree[Any]):
    """A command tree whose failures still answer the user, briefly and privately."""

    async def on_error(
        self, interaction: Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
            text = "I couldn't read that input. Try `/papers help` for examples."
        elif isinstance(error, app_commands.CommandNotFound):
            text = "That command has changed; Discord should update it shortly. Try `/papers help`."
        else:
            log.error("/papers failed", exc_info=error)
            text = ERROR_TEXT
        await _say_sorry(interaction, text)


class PapersClient(discord.AutoShardedClient):
    """The gateway client: ``/papers`` commands and Share buttons. Sharding follows
    ``discord.shard_count`` / ``discord.shard_ids`` (None: Discord's recommendation)."""

    def __init__(
        self,
        commands: PapersCommands,
        *,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
    ) -> None:
        # The bot has no voice: discord.py's warnings about missing voice libraries only confuse.
        for flag in ("warn_nacl", "warn_dave"):
            setattr(discord.VoiceClient, flag, False)
        # Interactions need no privileged intents; guilds keeps channels resolvable.
        shards: dict[str, Any] = {"shard_count": shard_count}
        if shard_ids is not None:
            shards["shard_ids"] = shard_ids
        super().__init__(
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            **shards,
        )
        self.papers = commands
        self.tree = PapersTree(self)
        self.tree.add_command(PapersGroup(commands))

    async def setup_hook(self) -> None:
        # Buttons from before a restart are matched by their custom_id pattern.
        self.add_dynamic_items(ShareButton)

    async def sync_commands(self, dev_guild_id: int | None = None) -> None:
        """Register ``/papers`` with Discord: globally, or to one guild (immediate, for
        development)."""
        if dev_guild_id is not None:
            guild = discord.Object(id=dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d command(s) to guild %s", len(synced), dev_guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d command(s) globally", len(synced))
