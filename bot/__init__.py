"""daily-papers-bot: the core, free of any chat platform."""
