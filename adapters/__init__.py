"""Adapters translate the bot's neutral objects to and from each chat platform."""
