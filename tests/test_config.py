from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, Secrets, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.database_url == "sqlite:///papers.db"
    assert s.timezone == "UTC"
    assert s.digest.time == "09:00" and s.digest.trending == 5 and s.digest.per_topic == 3
    assert s.server.port == 3000 and s.slack.mode == "socket"


def test_example_config_loads_and_documents_every_key() -> None:
    s = load_settings(ROOT / "config.example.yaml")
    assert s.model_dump() == Settings().model_dump()  # the example shows the defaults
    text = (ROOT / "config.example.yaml").read_text()
    for name, field in Settings.model_fields.items():
        assert f"{name}:" in text, f"config.example.yaml does not document {name}"
        sub = field.default_factory() if field.default_factory else None  # type: ignore[call-arg]
        for key in getattr(type(sub), "model_fields", {}):
            assert f"{key}:" in text, f"config.example.yaml does not document {name}.{key}"


def test_product_example_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database_url: sqlite:///papers.db
timezone: UTC
server: {host: 0.0.0.0, port: 3000}
slack: {enabled: true, mode: socket}
discord: {enabled: false}
channels:
  - id: slack:T0123/C0456
    topics: ["diffusion models", "mixture of experts"]
    time: "09:30"
    timezone: Europe/Berlin
    weekdays_only: true
webhooks:
  - name: reading-group
    url: https://discord.com/api/webhooks/123/abc
    topics: ["3D reconstruction"]
    time: "08:00"
""",
    )
    s = load_settings(path)
    assert s.channels[0].id == "slack:T0123/C0456" and s.channels[0].weekdays_only
    assert s.webhooks[0].kind == "discord"
    assert "abc" not in repr(s.webhooks[0])  # the URL is a secret


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "server: {port: 3000}\ndigest: {trending: 5}\n")
    monkeypatch.setenv("PAPERS_BOT_SERVER__PORT", "8080")
    monkeypatch.setenv("PAPERS_BOT_DIGEST__TRENDING", "9")
    monkeypatch.setenv("PAPERS_BOT_DATABASE_URL", "sqlite:///other.db")
    s = load_settings(path)
    assert (s.server.port, s.digest.trending, s.database_url) == (8080, 9, "sqlite:///other.db")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timezone: Mars/Olympus\n", "timezone: 'Mars/Olympus' is not an IANA time zone"),
        ("server: {port: 70000}\n", "server.port:"),
        ("slak: {enabled: true}\n", "slak: unknown key"),
        ("digest: {time: '25:00'}\n", "digest.time: '25:00' is not a time of day"),
        ("slack: {mode: carrier-pigeon}\n", "slack.mode:"),
        ("channels:\n  - id: slack:nope\n", "channels.0.id: 'slack:nope' is not a slack channel"),
        ("channels:\n  - id: console:a\n  - id: console:a\n", "declared twice"),
        ("webhooks:\n  - {name: x, url: 'https://example.com/hook'}\n", "kind cannot be inferred"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("server: {port: [\n", "not valid YAML at line"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and message.startswith(str(path))


def test_times_need_no_quotes(tmp_path: Path) -> None:
    """YAML 1.1 reads an unquoted 10:30 as the number 630 (base 60); the config reads it as the
    time it is, and numbers stay numbers."""
    path = write(
        tmp_path,
        "digest: {time: 10:30, trending: 8}\nserver: {port: 0x1F90}\n"
        "channels:\n  - id: slack:T1/C1\n    time: 7:05\n",
    )
    s = load_settings(path)
    assert (s.digest.time, s.channels[0].time) == ("10:30", "07:05")
    assert (s.digest.trending, s.server.port) == (8, 8080)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PAPERS_BOT_SLACK__MANAGERS", "U777"), ("PAPERS_BOT_CHANNELS", "slack:T7/C7")],
)
def test_a_list_in_the_environment_that_is_not_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "timezone: UTC\n"))
    message = str(info.value)
    assert message.startswith(f"environment: {name}: ") and "JSON" in message
    assert value not in message and "\n" not in message
    monkeypatch.setenv(name, '["U0123"]' if "MANAGERS" in name else '[{"id": "slack:T1/C1"}]')
    load_settings(write(tmp_path, "timezone: UTC\n"))


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "nope.yaml")


def test_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    # A token in the file is an unknown key, not a secret source.
    path = write(tmp_path, "slack_bot_token: xoxb-123\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings(path)
    secrets = Secrets({"SLACK_BOT_TOKEN": "xoxb-secret-value", "OTHER": "x"})
    assert secrets.get("SLACK_BOT_TOKEN") == "xoxb-secret-value"
    assert "xoxb-secret-value" not in repr(secrets)


def test_example_file_is_valid_yaml_mapping() -> None:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    assert isinstance(data, dict) and "channels" in data
