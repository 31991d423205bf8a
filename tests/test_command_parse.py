from __future__ import annotations

import pytest

from bot.commands import CommandError, parse, parse_time, parse_timezone


@pytest.mark.parametrize(
    ("text", "action", "arg"),
    [
        ("diffusion models", "search", "diffusion models"),
        ("search trending", "search", "trending"),
        ("SEARCH  MoE ", "search", "MoE"),
        ("trending", "trending", ""),
        ("trending 10", "trending", "10"),
        ("subscribe mixture of experts", "subscribe", "mixture of experts"),
        ("unsubscribe  MoE", "unsubscribe", "MoE"),
        ("topics", "topics", ""),
        ("schedule 09:30 Europe/Berlin weekdays", "schedule", "09:30 Europe/Berlin weekdays"),
        ("schedule off", "schedule", "off"),
        ("digest", "digest", ""),
        ("help", "help", ""),
        ("", "help", ""),
        ("   \n\t ", "help", ""),
        ("/papers help", "search", "/papers help"),
    ],
)
def test_grammar(text: str, action: str, arg: str) -> None:
    cmd = parse(text)
    assert (cmd.action, cmd.arg) == (action, arg)


def test_near_miss_of_a_subcommand_searches_and_hints() -> None:
    cmd = parse("subscibe diffusion")
    assert cmd.action == "search" and cmd.hint and "/papers subscribe diffusion" in cmd.hint


@pytest.mark.parametrize(
    ("text", "action", "arg"),
    [
        ("list", "topics", ""),
        ("status", "topics", ""),
        ("settings", "topics", ""),
        ("subscriptions", "topics", ""),
        ("preview", "digest", ""),
        ("usage", "help", ""),
        ("?", "help", ""),
        ("top", "trending", ""),
        ("Hot 10", "trending", "10"),
        ("today 3", "trending", "3"),
        # With words after them, the shortcuts are part of what to search for.
        ("list decoding", "search", "list decoding"),
        ("status of LLM agents", "search", "status of LLM agents"),
        ("settings for RLHF", "search", "settings for RLHF"),
        ("subscriptions economy", "search", "subscriptions economy"),
        ("preview generation", "search", "preview generation"),
        ("usage of LLMs", "search", "usage of LLMs"),
        ("top k sampling", "search", "top k sampling"),
        ("today in robotics", "search", "today in robotics"),
        ("hot swapping experts", "search", "hot swapping experts"),
        ("top 10 tricks", "search", "top 10 tricks"),
        # Words that would change the channel never do: they search.
        ("remove background", "search", "remove background"),
        ("add noise", "search", "add noise"),
        ("follow the leader", "search", "follow the leader"),
        ("sub pixel", "search", "sub pixel"),
        ("unsub robotics", "search", "unsub robotics"),
        ("add", "search", "add"),
    ],
)
def test_shortcuts_only_alone(text: str, action: str, arg: str) -> None:
    cmd = parse(text)
    assert (cmd.action, cmd.arg) == (action, arg)


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("remove background", "/papers unsubscribe background"),
        ("unsub MoE", "/papers unsubscribe MoE"),
        ("add noise", "/papers subscribe noise"),
        ("follow the leader", "/papers subscribe the leader"),
        ("sub", "/papers subscribe <topic>"),
    ],
)
def test_words_for_subscribe_and_unsubscribe_search_and_hint(text: str, meant: str) -> None:
    cmd = parse(text)
    assert cmd.action == "search" and cmd.hint and f"Did you mean `{meant}`?" in cmd.hint


def test_other_shortcut_searches_do_not_hint() -> None:
    assert parse("list decoding").hint is None and parse("top k sampling").hint is None


def test_overlong_input_is_an_error_not_a_crash() -> None:
    assert parse("x" * 5000).action == "error"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9:30", "09:30"),
        ("09:30", "09:30"),
        ("23:59", "23:59"),
        ("0:00", "00:00"),
        ("9am", "09:00"),
        ("9:15pm", "21:15"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
    ],
)
def test_times(text: str, expected: str) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9", "9:60", "13pm", "nine", "", "09:30:00", "-1:00"])
def test_bad_times(text: str) -> None:
    with pytest.raises(CommandError, match="HH:MM"):
        parse_time(text)


def test_timezones_any_case_with_suggestions() -> None:
    assert parse_timezone("europe/berlin") == "Europe/Berlin"
    assert parse_timezone("utc") == "UTC"
    with pytest.raises(CommandError, match="Europe/Berlin"):
        parse_timezone("Europe/Berlinn")
    with pytest.raises(CommandError, match="IANA"):
        parse_timezone("Moon/Base")
