"""``papers-bot`` as users run it: real processes, exit codes, stdout and stderr."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from bot.app import App
from bot.config import Settings
from bot.models import Target
from tests.factories import api_item, corpus
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def papers_bot(tmp_path: Path) -> Run:
    """Runs ``papers-bot`` in an empty folder with its own SQLite database."""

    def run(
        *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PAPERS_BOT_", "SLACK_", "DISCORD_"))
        }
        full_env["PYTHONPATH"] = str(ROOT)
        full_env["PAPERS_BOT_DATABASE_URL"] = f"sqlite:///{tmp_path}/papers.db"
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=full_env,
            timeout=120,
        )

    return run


@pytest.fixture
def saved_day(tmp_path: Path) -> Path:
    path = tmp_path / "daily_papers_2026-11-20.json"
    path.write_text(json.dumps([api_item(p) for p in corpus()]))
    return path


def test_ingest_search_json_and_digest(papers_bot: Run, saved_day: Path) -> None:
    r = papers_bot("ingest", str(saved_day))
    assert r.returncode == 0, r.stderr
    assert "12 new, 0 updated" in r.stdout
    r = papers_bot("ingest", str(saved_day))
    assert "0 new, 12 updated" in r.stdout
    r = papers_bot("search", "graph neural networks", "--json", "--limit", "3")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert hits and hits[0]["id"] == "2611.10005"
    for key in ("id", "title", "url", "upvotes", "published_at", "score"):
        assert key in hits[0]
    assert hits[0]["url"] == "https://huggingface.co/papers/2611.10005"
    r = papers_bot("digest", "console:local", "--date", "2026-11-20")
    assert r.returncode == 0, r.stderr
    assert "Daily Papers — Friday, 20 November 2026" in r.stdout and "## Trending" in r.stdout
    r = papers_bot("digest", "console:local", "--date", "2026-11-20", "--json")
    assert json.loads(r.stdout)[0]["channel"] == "console:local"


def test_console_answers_piped_commands(papers_bot: Run, saved_day: Path) -> None:
    papers_bot("ingest", str(saved_day))
    r = papers_bot("console", stdin="/papers subscribe robotics\ntopics\n/papers trending 2\n")
    assert r.returncode == 0, r.stderr
    assert "Subscribed" in r.stdout and "• robotics" in r.stdout
    r = papers_bot("channels")
    assert "console:local" in r.stdout and "robotics" in r.stdout


def hostile_lines(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    pieces = [
        '"',
        "'",
        "*",
        "-",
        "AND",
        "OR",
        "NEAR",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "\\",
        ":",
        "^",
        "🦄",
        "\u202e",
        "\u200b",
        "<!channel>",
        "@everyone",
        "<@U1>",
        "%s",
        "%(x)s",
        "{0}",
        "subscribe",
        "unsubscribe",
        "schedule",
        "trending",
        "digest",
        "topics",
        "help",
        "search",
        "99:99",
        "Mars/Base",
        "-1",
        "1e9",
        "9" * 30,
        "x" * 250,
        "DROP TABLE",
        "é",
        "ß",
        "ﬁ",
        "İ",
        "\t",
        "  ",
        "/papers",
        "--help",
        "",
        "NULL",
        "None",
    ]
    out = []
    for _ in range(n):
        out.append(" ".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 6))))
    return out


def test_thousands_of_hostile_lines_each_get_a_reply(tmp_path: Path) -> None:
    # In-process, to count replies exactly: one answer per input line.
    app = App(
        Settings(database_url=f"sqlite:///{tmp_path}/h.db"),
        clock=lambda: datetime(2026, 11, 20, 9, tzinfo=UTC),
    )
    app.ingest(corpus())
    lines = hostile_lines(2000)
    out = io.StringIO()
    console = ConsoleAdapter(stdout=out, stdin=io.StringIO("\n".join(lines) + "\n"))
    answered = console.repl(app.commands, Target.parse("console:local"), interactive=False)
    assert answered == len(lines)
    assert "Traceback" not in out.getvalue() and "something went wrong" not in out.getvalue()
    app.close()


def test_hostile_lines_through_the_real_process(papers_bot: Run, saved_day: Path) -> None:
    papers_bot("ingest", str(saved_day))
    stdin = "\n".join(hostile_lines(1500, seed=11)) + "\n\udcff\n"
    r = papers_bot("console", stdin=stdin.encode("utf-8", "surrogateescape").decode("latin-1"))
    assert r.returncode == 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("search", ""), 2, "TOPIC is empty"),
        (("search", "x" * 201), 2, "at most 200"),
        (("digest", "slack:nope"), 2, "is not a slack channel address"),
        (("digest", "webhook:missing"), 2, "no webhook named 'missing'"),
        (("digest", "console:local", "--date", "2026-13-45"), 2, "not a date"),
        (("ingest", "nope.json"), 2, "nope.json: no such file"),
        (("frobnicate",), 2, "No such command"),
        (("search",), 2, "Missing argument"),
        (("--config", "missing.yaml", "channels"), 2, "missing.yaml: no such config file"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    papers_bot: Run, args: tuple[str, ...], code: int, message: str
) -> None:
    r = papers_bot(*args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_bad_config_names_the_key(papers_bot: Run, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("timezone: Europe/Berln\n")
    r = papers_bot("channels")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "papers-bot: config.yaml: timezone: 'Europe/Berln' is not an IANA time zone "
        "(e.g. UTC, Europe/Berlin, America/New_York)"
    )


def test_malformed_file_and_bad_database(papers_bot: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = papers_bot("ingest", str(bad))
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = papers_bot("channels", env={"PAPERS_BOT_DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert r.returncode == 2 and "unsupported database" in r.stderr
    r = papers_bot(
        "channels", env={"PAPERS_BOT_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/db"}
    )
    assert r.returncode == 1 and "cannot open the database" in r.stderr
    assert "hunter2" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_fetch_walks_days_against_a_fake_hugging_face(papers_bot: Run) -> None:
    today = datetime.now(UTC).date()
    with FakeHuggingFace() as hf:
        hf.add_day(today, [api_item(p) for p in corpus()[:5]])
        env = {"PAPERS_BOT_HUGGINGFACE__BASE_URL": hf.base_url}
        r = papers_bot("fetch", "--since", (today.replace(day=1)).isoformat(), env=env)
        assert r.returncode == 0, r.stderr
        assert "5 new" in r.stdout
        days = {q.get("date") for q in (req.query for req in hf.requests)}
        assert today.isoformat() in days and today.replace(day=1).isoformat() in days
        hf.server_error(times=50)
        r = papers_bot(
            "fetch",
            "--date",
            today.isoformat(),
            env={**env, "PAPERS_BOT_HUGGINGFACE__RETRIES": "1"},
        )
        assert r.returncode == 1
        # Retries are logged as they happen; the error itself is the one last line.
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("papers-bot: Hugging Face did not answer GET /api/daily_papers")
        assert "Traceback" not in r.stderr


def test_fetch_rejects_future_dates(papers_bot: Run) -> None:
    r = papers_bot("fetch", "--date", date(2999, 1, 1).isoformat())
    assert r.returncode == 2 and "future" in r.stderr
    r = papers_bot("fetch", "--since", "1990-01-01")  # too far back: bad usage too
    assert r.returncode == 2 and "at most" in r.stderr, r.stderr


def test_a_send_without_a_token_leaves_no_channel(papers_bot: Run, saved_day: Path) -> None:
    assert papers_bot("ingest", str(saved_day)).returncode == 0
    for target, variable in (("slack:T9/C9", "SLACK_BOT_TOKEN"), ("discord:1/2", "DISCORD_TOKEN")):
        r = papers_bot("digest", target, "--date", "2026-11-20", "--send")
        assert r.returncode == 2 and f"{variable} is not set" in r.stderr, r.stderr
    # Nothing was created that would get a digest every day from now on.
    r = papers_bot("channels")
    assert r.returncode == 0 and r.stdout.startswith("No channels yet"), r.stdout


def test_a_send_slack_refuses_leaves_no_new_channel(
    papers_bot: Run, saved_day: Path, tmp_path: Path
) -> None:
    assert papers_bot("ingest", str(saved_day)).returncode == 0
    with FakeSlack() as slack:
        slack.add_workspace("T0CLI", bot_token="xoxb-cli-test-token")
        slack.set_channel_error("C0MISTYPED", "channel_not_found")
        (tmp_path / "config.yaml").write_text(f"slack: {{api_url: '{slack.api_url}'}}\n")
        env = {"SLACK_BOT_TOKEN": "xoxb-cli-test-token"}
        r = papers_bot(
            "digest", "slack:T0CLI/C0MISTYPED", "--date", "2026-11-20", "--send", env=env
        )
        assert r.returncode != 0 and "could not send the digest" in r.stderr, r.stderr
        assert papers_bot("channels").stdout.startswith("No channels yet")
        # The same to a channel that takes it: sent, and the channel is kept.
        r = papers_bot("digest", "slack:T0CLI/C0GOOD", "--date", "2026-11-20", "--send", env=env)
        assert r.returncode == 0 and "Sent the digest" in r.stdout, r.stderr
        assert "slack:T0CLI/C0GOOD" in papers_bot("channels").stdout
        assert [m.channel for m in slack.messages()] == ["C0GOOD"] * len(slack.messages())
        # A known channel is never removed by a failed send.
        slack.set_channel_error("C0GOOD", "channel_not_found")
        r = papers_bot("digest", "slack:T0CLI/C0GOOD", "--date", "2026-11-19", "--send", env=env)
        assert r.returncode != 0 and "slack:T0CLI/C0GOOD" in papers_bot("channels").stdout


def test_db_upgrade(papers_bot: Run) -> None:
    r = papers_bot("db", "upgrade")
    assert r.returncode == 0 and "is at revision" in r.stdout


def test_demo_runs_offline_and_exits_when_stdin_is_not_a_terminal(papers_bot: Run) -> None:
    r = papers_bot("demo")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Daily Papers —" in out and "## Trending" in out
    assert "/papers MoE" in out and "TL;DR" in out
    assert "stdin is not a terminal" in out
    assert "Traceback" not in r.stderr
