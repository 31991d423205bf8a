"""``papers-bot``: the command line.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad config. Errors are one line on
stderr (a traceback only with ``--debug``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from bot.app import App, IngestError
from bot.config import ConfigError, Secrets, Settings, load_settings
from bot.db import DatabaseURLError, redact_url
from bot.logs import json_enabled, redactor, setup_logging
from bot.models import Platform, Target, TargetError

log = logging.getLogger("papers-bot")

cli = typer.Typer(
    name="papers-bot",
    help="Hugging Face Daily Papers in Slack and Discord.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")

err = Console(stderr=True, highlight=False)


class UsageProblem(Exception):
    """Bad usage: exit code 2."""


@dataclass
class Options:
    config: Path | None = None
    database_url: str | None = None
    debug: bool = False
    log_format: str | None = None
    log_level: str | None = None


_current = Options()


def _options() -> Options:
    return _current


def load(options: Options | None = None) -> Settings:
    """Settings from the config file, the environment and the global options."""
    options = options or _options()
    overrides: dict[str, Any] = {}
    if options.database_url:
        overrides["database_url"] = options.database_url
    if options.log_format:
        overrides["log_format"] = options.log_format
    if options.log_level:
        overrides["log_level"] = options.log_level.upper()
    settings = load_settings(options.config, overrides=overrides)
    level = "DEBUG" if options.debug else settings.log_level
    hooks = [h.url.get_secret_value() for h in settings.webhooks]
    setup_logging(level, settings.log_format, [*Secrets().values(), *hooks])
    return settings


@contextmanager
def open_app(settings: Settings | None = None) -> Iterator[App]:
    settings = settings or load()
    try:
        app = App(settings)
    except DatabaseURLError as e:
        raise UsageProblem(f"database_url: {e}") from None
    except Exception as e:
        # Connection failures name the database without its password.
        raise RuntimeError(
            f"cannot open the database {redact_url(settings.database_url)}: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    try:
        app.seed()
        yield app
    finally:
        app.close()


def parse_date(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageProblem(f"{name}: {text!r} is not a date; use YYYY-MM-DD") from None


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")


# -- global options -----------------------------------------------------------------------------


@cli.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML config (default ./config.yaml when present)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="sqlite:///papers.db or postgresql://user:pass@host/db "
            "(env PAPERS_BOT_DATABASE_URL).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks and debug logs.")] = False,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="text (default) or json.")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="DEBUG, INFO, ...")] = None,
) -> None:
    global _current
    if log_format is not None and log_format not in ("text", "json"):
        raise UsageProblem("--log-format: use text or json")
    _current = Options(config, database_url, debug, log_format, log_level)


# -- commands -----------------------------------------------------------------------------------


@cli.command()
def demo(
    live: Annotated[
        bool, typer.Option("--live", help="Fetch the current list from Hugging Face first.")
    ] = False,
) -> None:
    """The whole bot on embedded defaults: sample papers, a demo channel, sample commands."""
    from bot.demo import run_demo

    raise typer.Exit(run_demo(live=live, debug=_options().debug))


@cli.command()
def run() -> None:
    """Run the bot: the adapters enabled in the config, the scheduler, the HTTP server."""
    from adapters.registry import AdapterContext, enabled_platforms, make_adapter
    from bot.fetch import days_to_fetch, fetch_days
    from bot.runner import Runner
    from bot.scheduler import DigestScheduler

    settings = load()
    secrets = Secrets()
    with open_app(settings) as app:
        runner = Runner(settings, secrets, app)
        ctx = AdapterContext(settings, secrets, app)
        senders = {}
        for platform in enabled_platforms(settings):
            try:
                adapter = make_adapter(platform, ctx)
            except ConfigError as e:
                raise UsageProblem(str(e)) from None
            runner.add(adapter)
            senders[platform] = adapter
        if not senders:
            log.warning("no chat platform is enabled in the config: only fetching papers")

        async def fetch() -> object:
            report = await fetch_days(app, days_to_fetch(datetime.now(UTC).date()))
            if app.semantic is not None:
                app.semantic.sync_in_background()  # new papers get their vectors
            return report

        if app.semantic is not None:
            app.semantic.warm()

        # Added last, so it stops first: no new deliveries while adapters are still up.
        runner.add(DigestScheduler(app, senders, fetch=fetch))
        asyncio.run(runner.serve())


@cli.command()
def fetch(
    day: Annotated[str | None, typer.Option("--date", help="One day, YYYY-MM-DD.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Every day from this one to today.")
    ] = None,
) -> None:
    """Pull Daily Papers from Hugging Face into the database."""
    from bot.fetch import days_to_fetch, fetch_days

    first = parse_date(since, "--since")
    only = parse_date(day, "--date")
    if first and only:
        raise UsageProblem("use --date or --since, not both")
    today = datetime.now(UTC).date()
    if (first or only or today) > today:
        raise UsageProblem("that date is in the future")
    try:
        days = days_to_fetch(today, only=only, since=first)
    except ValueError as e:  # --since too far back
        raise UsageProblem(str(e)) from None
    settings = load()
    with open_app(settings) as app:
        report = asyncio.run(fetch_days(app, days, progress=sys.stderr.isatty()))
        if app.semantic is not None:  # vectors for what was fetched
            app.embed([p.id for p in app.store.papers_between(days[0], days[-1])])
    print(
        f"Fetched {len(days)} day{'s' if len(days) != 1 else ''}: {report.inserted} new, "
        f"{report.updated} updated, {report.skipped} skipped"
        + (f", {report.empty_days} without papers" if report.empty_days else "")
    )


@cli.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Saved /api/daily_papers JSON files.")],
) -> None:
    """Load saved /api/daily_papers JSON files (the list exactly as the API returns it)."""
    with open_app() as app:
        try:
            report = app.ingest_files(files)
        except IngestError as e:
            raise UsageProblem(str(e)) from None
    print(
        f"Loaded {len(files)} file{'s' if len(files) != 1 else ''}: {report.inserted} new, "
        f"{report.updated} updated, {report.skipped} skipped"
    )


@cli.command()
def search(
    topic: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Search the local database."""
    text = topic.strip()
    if not text:
        raise UsageProblem("TOPIC is empty; e.g. papers-bot search 'diffusion models'")
    if len(text) > 200:
        raise UsageProblem(f"TOPIC is {len(text)} characters; at most 200")
    with open_app() as app:
        hits = app.searcher.search(text, limit=limit)
    if as_json:
        emit_json([search_hit_json(h.paper, h.score) for h in hits])
        return
    if not hits:
        print(f"No papers match {text!r}.")
        return
    table = Table(show_header=True, header_style="bold", box=None)
    for col in ("score", "▲", "id", "title"):
        table.add_column(col, overflow="fold")
    for h in hits:
        table.add_row(f"{h.score:.3f}", str(h.paper.upvotes or 0), h.paper.id, h.paper.title)
    Console(highlight=False).print(table)


def search_hit_json(paper: Any, score: float) -> dict[str, Any]:
    return {
        "id": paper.id,
        "title": paper.title,
        "url": paper.url,
        "upvotes": paper.upvotes,
        "published_at": paper.published_at.isoformat() if paper.published_at else None,
        "featured_date": paper.featured_date.isoformat() if paper.featured_date else None,
        "score": round(score, 6),
        "authors": paper.authors,
        "tldr": paper.tldr,
        "arxiv_url": paper.arxiv_url,
        "github": paper.github_repo,
    }


@cli.command()
def digest(
    channel: Annotated[str, typer.Argument(help="slack:T/C, discord:G/C, webhook:N, console:N")],
    day: Annotated[
        str | None, typer.Option("--date", help="The digest's date (default: today there).")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Post it, don't just preview.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The exact request bodies, as JSON.")
    ] = False,
) -> None:
    """Preview, or send, a channel's digest."""
    from adapters.registry import AdapterContext, make_adapter
    from adapters.text import render_digest
    from bot.delivery import DeliveryError, deliver

    try:
        target = Target.parse(channel)
    except TargetError as e:
        raise UsageProblem(str(e)) from None
    when = parse_date(day, "--date")
    settings = load()
    if target.platform is Platform.WEBHOOK and target.channel not in {
        h.name for h in settings.webhooks
    }:
        raise UsageProblem(f"no webhook named {target.channel!r} in the config (webhooks:)")
    with open_app(settings) as app:
        # The adapter first: a missing token or setting leaves no new channel behind, which
        # would otherwise get a digest every day from then on.
        try:
            adapter = make_adapter(target.platform, AdapterContext(settings, Secrets(), app))
        except ConfigError as e:
            raise UsageProblem(str(e)) from None
        if send and (problem := adapter.send_problem()) is not None:
            raise UsageProblem(str(problem))
        ch = app.store.get_channel(target)
        created = send and ch is None
        if created:
            ch = app.channel(target)
        if ch is None:
            from bot.models import Channel, Schedule

            ch = Channel(target, Schedule(app.defaults.time, app.defaults.timezone))
        the_day = when or app.local_today(ch)
        if send:
            try:
                result = asyncio.run(deliver(app.digests, ch, the_day, adapter))
            except BaseException as e:
                # A channel first named by this send, which could not be posted to (mistyped,
                # the app not in it), is not kept: it would get a digest every day.
                if created:
                    app.store.forget_channel(target)
                if isinstance(e, DeliveryError):
                    raise RuntimeError(f"could not send the digest to {target}: {e}") from None
                raise
            if as_json:
                emit_json(adapter.render_digest(result.digest))
            elif result.status == "empty":
                print(f"Nothing new for {target} on {the_day}; nothing was sent.")
            else:
                count = len(result.digest.papers)
                print(f"Sent the digest for {the_day} to {target} ({count} papers).")
            return
        built = app.digests.build(ch, the_day, now=app.clock())
        if as_json:
            emit_json(adapter.render_digest(built) if not built.is_empty or built.notice else [])
            return
        text = render_digest(built)
        print(text or f"Nothing new for {target} on {the_day}.")


@cli.command()
def console() -> None:
    """/papers commands typed on stdin, replies on stdout, channel console:local."""
    from adapters.console import ConsoleAdapter

    _make_stdin_tolerant()
    with open_app() as app:
        interactive = sys.stdin.isatty()
        if interactive:
            print("Type /papers commands (help for usage, quit or Ctrl-D to leave).")
        ConsoleAdapter().repl(app.commands, Target.parse("console:local"), interactive=interactive)


@cli.command()
def channels() -> None:
    """Channels, their topics and schedules."""
    with open_app() as app:
        rows = app.store.list_channels()
        reasons = {
            str(c.target): app.store.pause_reason(c.target) for c in rows if c.schedule.paused
        }
    if not rows:
        print(
            "No channels yet. Declare them under channels: in the config, or use /papers subscribe."
        )
        return
    table = Table(show_header=True, header_style="bold", box=None)
    for col in ("channel", "schedule", "topics"):
        table.add_column(col, overflow="fold")
    for c in rows:
        sched = c.schedule.describe()
        if reasons.get(str(c.target)):
            sched += f": {reasons[str(c.target)]}"
        table.add_row(str(c.target), sched, ", ".join(c.topics) or "—")
    Console(highlight=False).print(table)


@cli.command()
def embed() -> None:
    """Embed the papers that have no vector (or a stale one) for semantic matching."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bot.semantic import EXTRA_HINT, SemanticUnavailable, extra_installed

    settings = load()
    if settings.semantic.enabled is False:
        raise UsageProblem("semantic.enabled is false in the config; nothing to embed")
    if not extra_installed():
        raise UsageProblem(f"semantic matching needs the [semantic] extra: {EXTRA_HINT}")
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
    )
    with open_app(settings) as app, bar:
        semantic = app.semantic
        assert semantic is not None  # enabled and installed
        task = bar.add_task(f"Embedding with {semantic.model}", total=None)
        try:
            report = semantic.sync(
                progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        except SemanticUnavailable as e:
            raise RuntimeError(str(e)) from None
    print(
        f"Embedded {report.embedded} paper{'s' if report.embedded != 1 else ''} with "
        f"{semantic.model}; {report.current} already up to date."
    )


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done on start)."""
    settings = load()
    with open_app(settings) as app, app.store.engine.connect() as conn:
        rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    print(f"Database {redact_url(settings.database_url)} is at revision {rev}.")


def _make_stdin_tolerant() -> None:
    # Garbage bytes on stdin become U+FFFD instead of ending the session.
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")


# -- entry point --------------------------------------------------------------------------------


def fail(message: str, code: int, exc: BaseException | None = None) -> NoReturn:
    """Exit with ``code`` after one line on stderr (a JSON log line with ``--log-format json``),
    preceded by ``exc``'s traceback with ``--debug``; secrets redacted from both."""
    redactor().add(Secrets().values())  # also when failing before the settings were read
    message = redactor().redact(message)
    requested = _current.log_format or os.environ.get("PAPERS_BOT_LOG_FORMAT", "")
    if json_enabled() or requested.lower() == "json":
        if not json_enabled():
            setup_logging("INFO", "json")
        log.critical(message, exc_info=exc)
    else:
        if exc is not None:
            sys.stderr.write(redactor().redact("".join(traceback.format_exception(exc))))
        err.print(f"papers-bot: {message}", markup=False, soft_wrap=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """The ``papers-bot`` console script."""
    global _current
    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args
    # Known before click parses anything, so even a usage error is reported in the log format.
    wants_json = "--log-format=json" in args or "--log-format json" in " ".join(args)
    _current = Options(log_format="json" if wants_json else None)
    # The modules just imported (the ORM, pydantic, Typer, Rich: most of a process's objects)
    # out of the collector's sight: a full collection walked them all, 30-40 ms each time, and
    # reading a large vocabulary (tens of thousands of words) set one or two off.
    gc.freeze()
    try:
        result = cli(args=argv, standalone_mode=False)
        if isinstance(result, int) and result:
            raise SystemExit(result)
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except typer.Abort:
        fail("aborted", 1)
    except (UsageProblem, ConfigError) as e:
        fail(str(e), 2, e if debug else None)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        raise SystemExit(0) from None
    except Exception as e:
        if _is_usage_error(e):
            ctx = getattr(e, "ctx", None)
            path = getattr(ctx, "command_path", None)
            hint = f" (see '{path} --help')" if path else ""
            fail(f"{e.format_message()}{hint}", 2)  # type: ignore[attr-defined]
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        fail(detail, 1, e if debug else None)


def _is_usage_error(e: Exception) -> bool:
    # Typer's usage errors (its own, or click's in older Typer releases) carry these two.
    return getattr(e, "exit_code", None) == 2 and callable(getattr(e, "format_message", None))
