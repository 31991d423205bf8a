"""``python -m bot`` is ``papers-bot``."""

from bot.cli import main

main()
