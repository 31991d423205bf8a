"""The container files, without a Docker engine: the Dockerfile's essentials, the compose file's
services, and (slow) the image's install steps replayed in a fresh virtualenv — build the wheel
from exactly what the Dockerfile copies, install it, and run ``papers-bot`` from it: ``--help``,
``db upgrade``, then ``run`` answering the image's own HEALTHCHECK command."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bot.db import normalize_url
from tests.fakes.huggingface import FakeHuggingFace

ROOT = Path(__file__).resolve().parent.parent
SECRETS = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "DISCORD_TOKEN",
)


def instructions(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


def exec_form(args: str) -> list[str]:
    command = json.loads(args)
    assert isinstance(command, list) and all(isinstance(a, str) for a in command)
    return command


def healthcheck_command() -> list[str]:
    [args] = [a for word, a in final_stage() if word == "HEALTHCHECK"]
    _, _, command = args.partition("CMD ")
    return exec_form(command)


def test_dockerfile_runs_the_bot_as_a_non_root_user_with_a_healthcheck() -> None:
    stage = final_stage()
    words = [w for w, _ in stage]
    assert stage[0][1].startswith("python:3.11-slim")
    [user] = [a for w, a in stage if w == "USER"]
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    # The user is in force for everything the container runs.
    assert words.index("USER") < words.index("CMD") and words.index("USER") < words.index(
        "HEALTHCHECK"
    )
    assert [a for w, a in stage if w == "WORKDIR"] == ["/data"]
    assert any("/data" in a for w, a in stage if w == "VOLUME")
    env = " ".join(a for w, a in stage if w == "ENV")
    assert "PAPERS_BOT_DATABASE_URL=sqlite:////data/papers.db" in env
    assert [a for w, a in stage if w == "EXPOSE"] == ["3000"]
    [cmd] = [a for w, a in stage if w == "CMD"]
    assert exec_form(cmd) == ["papers-bot", "run"]  # exec form: SIGTERM reaches the bot
    check = healthcheck_command()
    assert check[0] == "python" and "urllib" in check[-1] and "/healthz" in check[-1]
    assert "curl" not in " ".join(check) and "wget" not in " ".join(check)
    # No secret is baked into the image.
    for word, args in instructions():
        assert not any(name in args for name in SECRETS), (word, args)


def test_dockerignore_keeps_what_the_build_copies_and_nothing_else() -> None:
    copied = [
        shlex.split(a)[:-1] for w, a in instructions() if w == "COPY" and not a.startswith("--from")
    ]
    sources = {Path(s).as_posix().rstrip("/") for group in copied for s in group}
    assert sources == {"pyproject.toml", "README.md", "bot", "adapters"}
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # deny by default, then allow what the build copies
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == sources
    assert {"**/*.db", "**/__pycache__"} <= set(ignore)


def test_compose_file_runs_the_bot_on_postgresql() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"bot", "postgres"}
    bot, pg = services["bot"], services["postgres"]
    assert bot["build"] == "." and bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = bot["environment"]
    url = env["PAPERS_BOT_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert normalize_url(url.replace("${POSTGRES_PASSWORD:-papers}", "pw")).startswith(
        "postgresql+psycopg://"
    )
    # Tokens pass through from the host: named, never given a value here.
    for name in SECRETS:
        assert name in env and env[name] is None
    assert "/readyz" in " ".join(bot["healthcheck"]["test"])
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert pg["environment"]["POSTGRES_DB"] == url.rsplit("/", 1)[1]
    assert {v.split(":")[0] for v in bot["volumes"]} == {"bot-data"}
    assert set(doc["volumes"]) == {"bot-data", "postgres-data"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _offline(output: str) -> bool:
    signs = ("Could not find a version", "No matching distribution", "Failed to establish")
    return any(sign in output for sign in signs)


@pytest.mark.slow
def test_the_image_install_steps_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    # The build stage: exactly what the Dockerfile copies, `pip wheel --no-deps .`.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("bot", "adapters"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_BOT_", "PYTHON"))}
    for name in SECRETS:
        env.pop(name, None)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), "."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if build.returncode and _offline(build.stdout + build.stderr):
        pytest.skip("the package index is not reachable")
    assert build.returncode == 0, build.stderr
    [wheel] = wheels.glob("daily_papers_bot-*.whl")
    # The final stage: a fresh Python, `pip install /wheels/*.whl`.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_ = venv / "bin"
    install = subprocess.run(
        [str(bin_ / "pip"), "install", "-q", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if install.returncode and _offline(install.stdout + install.stderr):
        pytest.skip("the package index is not reachable")
    assert install.returncode == 0, install.stderr
    data = tmp_path / "data"  # WORKDIR /data
    data.mkdir()
    env.update(
        PAPERS_BOT_DATABASE_URL=f"sqlite:///{data}/papers.db",
        PAPERS_BOT_SERVER__HOST="127.0.0.1",
        PAPERS_BOT_SERVER__PORT=str(_free_port()),
    )

    def papers_bot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_ / "papers-bot"), *args],
            cwd=data,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    where = subprocess.run(
        [str(bin_ / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=data,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv))  # the installed package, not the sources
    usage = papers_bot("--help")
    assert usage.returncode == 0 and "run" in usage.stdout, usage.stderr
    upgraded = papers_bot("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at revision" in upgraded.stdout and (data / "papers.db").exists()
    # `papers-bot run` (CMD), asked by the image's HEALTHCHECK command with the image's Python.
    with FakeHuggingFace() as hf:
        env["PAPERS_BOT_HUGGINGFACE__BASE_URL"] = hf.base_url
        proc = subprocess.Popen(
            [str(bin_ / "papers-bot"), "run"],
            cwd=data,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "run.log").open("wb"),
        )
        check = healthcheck_command()
        try:
            healthy = False
            deadline = time.monotonic() + 60
            while not healthy and time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "run.log").read_text()
                probe = subprocess.run(
                    [str(bin_ / check[0]), *check[1:]], env=env, capture_output=True, timeout=30
                )
                healthy = probe.returncode == 0
                time.sleep(0.2)
            assert healthy, (tmp_path / "run.log").read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
    # Once stopped, the same check fails (as Docker needs it to).
    probe = subprocess.run([str(bin_ / check[0]), *check[1:]], env=env, capture_output=True)
    assert probe.returncode != 0
