"""The console adapter: ``/papers`` commands typed in a terminal (or piped, one per line), on the
same inbound path the chat platforms use."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from adapters.base import Adapter, Journal
from adapters.text import render_digest, render_reply
from bot.commands import CommandHandler
from bot.models import Digest, Invocation, Platform, Reply, Target

PROMPT = "/papers "
EMPTY_LINE = "(empty line: type a topic to search, or help for usage)"


def strip_command(line: str) -> str:
    """The text after ``/papers`` (typing the command name itself is optional)."""
    text = line.strip()
    low = text.casefold()
    if low == "/papers" or low.startswith("/papers "):
        return text[len("/papers") :].strip()
    return text


@dataclass
class ConsoleAdapter(Adapter):
    """Reads commands from ``stdin`` and prints replies and digests to ``stdout``."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)

    platform = Platform.CONSOLE

    def render_digest(self, digest: Digest) -> list[dict[str, Any]]:
        return [{"channel": str(digest.target), "text": render_digest(digest)}]

    async def send_digest(
        self,
        digest: Digest,
        *,
        nonce: str | None = None,
        resume: bool = False,
        journal: Journal | None = None,
    ) -> list[str]:
        self._print(render_digest(digest))
        return []

    async def post_reply(self, target: Target, reply: Reply) -> list[str]:
        self._print(render_reply(reply))
        return []

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def answer(self, handler: CommandHandler, line: str, who: Invocation) -> str:
        """The printed answer to one typed line."""
        if not line.strip():
            return EMPTY_LINE
        return render_reply(handler.handle(strip_command(line), who))

    def repl(self, handler: CommandHandler, target: Target, *, interactive: bool) -> int:
        """Answer commands until end of input (or ``quit``); returns how many were answered."""
        who = Invocation(target=target, user_id="local", user_name="you")
        count = 0
        while True:
            if interactive:
                self.stdout.write(PROMPT)
                self.stdout.flush()
            try:
                line = self.stdin.readline()
            except (KeyboardInterrupt, UnicodeDecodeError):
                if interactive:
                    self._print("")
                    break
                self._print("(skipped a line that is not valid text)")
                continue
            if not line:
                if interactive:
                    self._print("")
                break
            if interactive and line.strip().casefold() in ("quit", "exit", ":q"):
                break
            if interactive and not line.strip():
                continue
            self._print(self.answer(handler, line, who))
            count += 1
        return count

    async def arepl(self, handler: CommandHandler, target: Target, *, interactive: bool) -> int:
        return await asyncio.to_thread(self.repl, handler, target, interactive=interactive)


def from_context(ctx: object) -> ConsoleAdapter:
    """Registry factory."""
    return ConsoleAdapter()
