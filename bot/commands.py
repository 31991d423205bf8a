"""The ``/papers`` grammar: parsing and platform-neutral handlers that return ``Reply`` objects.

Every input gets an answer; a problem is a short, friendly message saying what to type instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from time import perf_counter
from zoneinfo import ZoneInfo, available_timezones

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot import metrics as m
from bot.db import UNAVAILABLE
from bot.digest import DigestBuilder
from bot.models import Channel, Invocation, Reply, ReplyKind, Schedule, clean_text, shorten
from bot.search import Searcher
from bot.store import MAX_TOPIC_LENGTH, ChannelDefaults, Store

log = logging.getLogger(__name__)

SEARCH_LIMIT = 5
TRENDING_DEFAULT = 5
TRENDING_MAX = 20
MAX_INPUT = 1000

SUBCOMMANDS = (
    "search",
    "trending",
    "subscribe",
    "unsubscribe",
    "topics",
    "schedule",
    "digest",
    "help",
)
SETTINGS_COMMANDS = frozenset({"subscribe", "unsubscribe", "schedule"})
# Other words for a subcommand, taken only when nothing follows them.
_ALONE = {
    "?": "help",
    "-h": "help",
    "--help": "help",
    "usage": "help",
    "list": "topics",
    "subscriptions": "topics",
    "settings": "topics",
    "status": "topics",
    "preview": "digest",
}
_TRENDING_WORDS = frozenset({"top", "hot", "today"})  # alone, or with a count
# Words people may mean as subscribe / unsubscribe: they search, with a hint at the command.
_CHANGE_WORDS = {
    "sub": "subscribe",
    "add": "subscribe",
    "follow": "subscribe",
    "unsub": "unsubscribe",
    "remove": "unsubscribe",
}

HELP_TEXT = """\
/papers — Hugging Face Daily Papers, right here.
• `/papers diffusion models` — the best-matching papers (same as `/papers search …`)
• `/papers trending 10` — today's most upvoted papers (1–20, default 5)
• `/papers subscribe mixture of experts` — add a topic section to this channel's digest
• `/papers unsubscribe mixture of experts` — remove it
• `/papers topics` — this channel's topics and schedule
• `/papers schedule 09:30 Europe/Berlin weekdays` — when the digest is posted
• `/papers schedule off` / `/papers schedule on` — pause or resume the digest
• `/papers digest` — preview the digest this channel would get now
• `/papers help` — this message"""

SORRY = "Sorry, something went wrong on my side while answering that. Please try again in a minute."

_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.IGNORECASE)
_AMPM_RE = re.compile(r"(\d)\s+(am|pm)\b", re.IGNORECASE)  # "9:30 pm" is "9:30pm"
_INT_RE = re.compile(r"^[+-]?\d+$")
_WEEKDAY_WORDS = {"weekdays", "weekday", "workdays", "mon-fri", "monday-friday"}
_EVERYDAY_WORDS = {"daily", "everyday", "every-day", "all", "alldays", "all-days"}
_TZ_ALIASES = {"utc": "UTC", "gmt": "UTC", "z": "UTC"}
_QUOTES = "\"'“”‘’"


class CommandError(Exception):
    """A problem with the user's input; the message is shown to them as is."""


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed ``/papers`` command: the action and its argument text."""

    action: str
    arg: str = ""
    hint: str | None = None


@cache
def _zones() -> dict[str, str]:
    zones = {z.casefold(): z for z in available_timezones()}
    zones.update(_TZ_ALIASES)
    return zones


def parse_timezone(text: str) -> str:
    """An IANA zone name from what the user typed (case-insensitive), else CommandError."""
    name = _zones().get(text.strip().casefold())
    if name is None:
        guess = process.extractOne(text.strip().casefold(), list(_zones()), score_cutoff=85)
        tip = f" Did you mean `{_zones()[guess[0]]}`?" if guess else ""
        raise CommandError(
            f"I don't know the time zone “{shorten(text, 60)}”.{tip} "
            "Use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`."
        )
    return name


def parse_time(text: str) -> str:
    """``HH:MM`` (24 h) from ``9:30``, ``09:30``, ``9am`` or ``9:30pm``, else CommandError."""
    m = _TIME_RE.match(text.strip())
    error = CommandError(
        f"“{shorten(text, 40)}” isn't a time I understand. "
        "Use 24-hour `HH:MM`, e.g. `/papers schedule 09:30 Europe/Berlin`."
    )
    if not m:
        raise error
    hour, minute, ampm = int(m[1]), int(m[2] or 0), (m[3] or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            raise error
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or (m[2] is None and not ampm):
        raise error
    return f"{hour:02d}:{minute:02d}"


def parse(text: str) -> Command:
    """Parse the text after ``/papers``. Never raises; problems become ``Command("error")``."""
    text = clean_text(text)
    if len(text) > MAX_INPUT:
        return Command("error", f"That's {len(text)} characters; topics are at most 200.")
    if not text:
        return Command("help", hint="empty")
    head, _, rest = text.partition(" ")
    word = head.casefold().lstrip("/")
    rest = rest.strip()
    if word in SUBCOMMANDS:
        return Command(word, rest)
    # Shortcuts stand alone (trending ones may take a count): with words after them, they are
    # part of a search, so "list decoding" or "top k sampling" search as typed.
    if not rest and word in _ALONE:
        return Command(_ALONE[word])
    if word in _TRENDING_WORDS and (not rest or _INT_RE.match(rest)):
        return Command("trending", rest)
    # Anything else is a topic to search for. A word that would change the channel is never a
    # shortcut ("remove background" searches); it, or a near-miss of a subcommand, earns a hint.
    meant = _CHANGE_WORDS.get(word)
    if meant is None and rest and len(word) >= 4:
        best = process.extractOne(word, SUBCOMMANDS, scorer=Levenshtein.distance, score_cutoff=2)
        meant = best[0] if best is not None else None
    hint = None
    if meant is not None:
        example = shorten(rest, 60) if rest else "<topic>"
        hint = f"Searched for “{shorten(text, 80)}”. Did you mean `/papers {meant} {example}`?"
    return Command("search", text, hint=hint)


@dataclass(slots=True)
class CommandSettings:
    """What the handlers need from the configuration."""

    default_time: str = "09:00"
    default_timezone: str = "UTC"
    permission: str = "everyone"  # or "managers"


class CommandHandler:
    """Runs ``/papers`` commands against the store. ``handle`` never raises."""

    def __init__(
        self,
        store: Store,
        searcher: Searcher,
        digests: DigestBuilder,
        settings: CommandSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_channel_change: Callable[[Channel], None] | None = None,
        metrics: m.Metrics | None = None,
    ) -> None:
        self.store = store
        self.searcher = searcher
        self.digests = digests
        self.settings = settings
        self.clock = clock
        self.on_channel_change = on_channel_change
        self._defaults = ChannelDefaults(settings.default_time, settings.default_timezone)
        self.metrics = metrics or m.Metrics()

    def handle(self, text: str, who: Invocation) -> Reply:
        """The answer to ``/papers <text>`` typed by ``who``."""
        started = perf_counter()
        command = parse(text)
        reply, outcome = self._answer(command, who)
        self.metrics.commands.labels(command.action, outcome).inc()
        self.metrics.command_seconds.labels(command.action).observe(perf_counter() - started)
        return reply

    def _answer(self, command: Command, who: Invocation) -> tuple[Reply, str]:
        try:
            if command.action == "error":
                raise CommandError(command.arg)
            if command.action in SETTINGS_COMMANDS and not self._may_change(who, command):
                denied = Reply(
                    "Only channel managers can change this channel's digest here "
                    "(ask someone with Manage Channels, or a workspace admin). "
                    "You can still search: `/papers <topic>`.",
                    kind=ReplyKind.ERROR,
                )
                return denied, m.DENIED
            method: Callable[[Command, Invocation], Reply] = getattr(self, f"_{command.action}")
            reply = method(command, who)
        except CommandError as e:
            return Reply(str(e), kind=ReplyKind.ERROR), m.INVALID
        except UNAVAILABLE as e:
            # An outage, not a bug: one line, no traceback.
            log.warning("/papers %s: database unavailable (%s)", command.action, type(e).__name__)
            return Reply(SORRY, kind=ReplyKind.ERROR), m.ERROR
        except Exception:
            log.exception("command failed: /papers %s", command.action)
            return Reply(SORRY, kind=ReplyKind.ERROR), m.ERROR
        if command.hint and command.hint != "empty":
            reply.text = f"{command.hint}\n{reply.text}" if reply.text else command.hint
        return reply, m.OK

    # -- helpers ----------------------------------------------------------------------------

    def _may_change(self, who: Invocation, command: Command) -> bool:
        if self.settings.permission == "everyone" or who.can_manage:
            return True
        # Looking at the schedule changes nothing.
        return command.action == "schedule" and not command.arg

    def _channel(self, who: Invocation) -> Channel:
        channel = self.store.get_channel(who.target)
        if channel is None:
            return Channel(
                target=who.target,
                schedule=Schedule(self.settings.default_time, self.settings.default_timezone),
            )
        return channel

    def _today(self, channel: Channel) -> date:
        return self.clock().astimezone(ZoneInfo(channel.schedule.timezone)).date()

    def _changed(self, channel: Channel) -> None:
        if self.on_channel_change is not None:
            self.on_channel_change(channel)

    @staticmethod
    def _topic(command: Command, verb: str) -> str:
        topic = clean_text(command.arg)
        # Quotes around the topic go, and so does the space they held: `" "` is no topic.
        while (inner := clean_text(topic.strip(_QUOTES))) != topic:
            topic = inner
        if not topic:
            raise CommandError(f"Which topic? For example: `/papers {verb} diffusion models`.")
        if len(topic) > MAX_TOPIC_LENGTH:
            raise CommandError(
                f"That topic is {len(topic)} characters; please keep it to {MAX_TOPIC_LENGTH}."
            )
        return topic

    # -- commands ---------------------------------------------------------------------------

    def _help(self, command: Command, who: Invocation) -> Reply:
        prefix = "Tell me what to look for. " if command.hint == "empty" else ""
        return Reply(prefix + HELP_TEXT, title="How to use /papers")

    def _search(self, command: Command, who: Invocation) -> Reply:
        topic = self._topic(command, "search")
        hits = self.searcher.search(topic, limit=SEARCH_LIMIT)
        if not hits:
            if self.store.latest_featured_date() is None:
                return Reply(
                    "I have no papers yet — they arrive with the next fetch from Hugging Face. "
                    "Try again in a few minutes."
                )
            return Reply(
                f"No papers match “{shorten(topic, 80)}”. Try fewer or broader words, "
                "e.g. `/papers diffusion` or `/papers MoE`."
            )
        return Reply(
            "",
            kind=ReplyKind.RESULTS,
            title=f"Papers on “{shorten(topic, 80)}”",
            papers=[h.paper for h in hits],
        )

    def _trending(self, command: Command, who: Invocation) -> Reply:
        count = TRENDING_DEFAULT
        arg = command.arg.strip()
        if arg:
            if not _INT_RE.match(arg):
                raise CommandError(
                    f"`/papers trending` takes a number from 1 to {TRENDING_MAX}, "
                    "e.g. `/papers trending 10`."
                )
            count = int(arg)
            if not 1 <= count <= TRENDING_MAX:
                raise CommandError(
                    f"Pick a number from 1 to {TRENDING_MAX}, e.g. `/papers trending 10`."
                )
        channel = self._channel(who)
        today = self._today(channel)
        featured = self.store.latest_featured_date(today)
        if featured is None:
            return Reply(
                "No Daily Papers stored yet — they arrive with the next fetch from Hugging Face."
            )
        papers = self.store.papers_on(featured, limit=count)
        when = "today" if featured == today else f"on {featured:%A %d %B}"
        return Reply(
            "",
            kind=ReplyKind.RESULTS,
            title=f"Trending {when}: top {len(papers)} by upvotes",
            papers=papers,
        )

    def _subscribe(self, command: Command, who: Invocation) -> Reply:
        topic = self._topic(command, "subscribe")
        if not self.store.subscribe(who.target, topic, self._defaults):
            return Reply(
                f"This channel already follows “{topic}”. See them all with `/papers topics`."
            )
        channel = self._channel(who)
        self._changed(channel)
        by = f" by {who.user_name}" if who.user_name else ""
        return Reply(
            f"Subscribed{by}: “{topic}” now has its own section in this channel's digest "
            f"({channel.schedule.describe()}).",
            kind=ReplyKind.CONFIRM,
            ephemeral=False,
        )

    def _unsubscribe(self, command: Command, who: Invocation) -> Reply:
        topic = self._topic(command, "unsubscribe")
        if not self.store.unsubscribe(who.target, topic):
            topics = self._channel(who).topics
            listed = ", ".join(f"“{t}”" for t in topics) if topics else "none yet"
            raise CommandError(
                f"This channel doesn't follow “{shorten(topic, 80)}”. Its topics: {listed}."
            )
        channel = self._channel(who)
        self._changed(channel)
        by = f" by {who.user_name}" if who.user_name else ""
        return Reply(
            f"Unsubscribed{by}: “{topic}” is no longer in this channel's digest.",
            kind=ReplyKind.CONFIRM,
            ephemeral=False,
        )

    def _topics(self, command: Command, who: Invocation) -> Reply:
        channel = self._channel(who)
        if channel.topics:
            lines = "\n".join(f"• {t}" for t in channel.topics)
            text = f"Topics followed here:\n{lines}"
        else:
            text = "This channel follows no topics yet — add one with `/papers subscribe <topic>`."
        return Reply(
            f"{text}\nDigest: {channel.schedule.describe()}.", title="This channel's digest"
        )

    def _schedule(self, command: Command, who: Invocation) -> Reply:
        words = _AMPM_RE.sub(r"\1\2", command.arg).split()
        if not words:
            channel = self._channel(who)
            return Reply(
                f"This channel's digest is posted {channel.schedule.describe()}. Change it with "
                "`/papers schedule 09:30 Europe/Berlin weekdays`, or `/papers schedule off`."
            )
        if len(words) == 1 and words[0].casefold() in ("off", "pause", "stop"):
            channel = self.store.set_schedule(who.target, paused=True, defaults=self._defaults)
            self._changed(channel)
            return Reply(
                "The daily digest is paused for this channel. Resume with `/papers schedule on`.",
                kind=ReplyKind.CONFIRM,
                ephemeral=False,
            )
        if len(words) == 1 and words[0].casefold() in ("on", "resume", "start"):
            channel = self.store.set_schedule(who.target, paused=False, defaults=self._defaults)
            self._changed(channel)
            return Reply(
                f"The daily digest is back on: {channel.schedule.describe()}.",
                kind=ReplyKind.CONFIRM,
                ephemeral=False,
            )
        # Any part may be left out (Discord sends only the options that were set), and only the
        # parts given change. The time is a word shaped like one, or the first word when that
        # is no time zone (so "soon" is told about `HH:MM`).
        time: str | None = None
        timezone: str | None = None
        weekdays: bool | None = None
        for i, word in enumerate(words):
            low = word.casefold()
            if low in _WEEKDAY_WORDS:
                weekdays = True
            elif low in _EVERYDAY_WORDS:
                weekdays = False
            elif time is None and (
                _TIME_RE.match(word) or (i == 0 and low not in _zones() and "/" not in word)
            ):
                time = parse_time(word)
            elif timezone is None:
                timezone = parse_timezone(word)
            else:
                raise CommandError(
                    f"I didn't understand “{shorten(word, 40)}”. The form is "
                    "`/papers schedule HH:MM [time zone] [weekdays]`, "
                    "e.g. `/papers schedule 09:30 Europe/Berlin weekdays`."
                )
        channel = self.store.set_schedule(
            who.target,
            time=time,
            timezone=timezone,
            weekdays_only=weekdays,
            paused=False,
            defaults=self._defaults,
        )
        self._changed(channel)
        return Reply(
            f"Scheduled: this channel's digest is now posted {channel.schedule.describe()}.",
            kind=ReplyKind.CONFIRM,
            ephemeral=False,
        )

    def _digest(self, command: Command, who: Invocation) -> Reply:
        channel = self._channel(who)
        digest = self.digests.build(channel, self._today(channel), now=self.clock())
        if digest.is_empty:
            text = digest.notice or (
                "Nothing new for this channel right now: every recent paper was already posted "
                "here, or none has arrived yet."
            )
            return Reply(text, title="Digest preview")
        return Reply(
            "Preview — this is what the channel would get now.",
            kind=ReplyKind.DIGEST,
            title="Digest preview",
            digest=digest,
        )
