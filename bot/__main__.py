"""`python -m bot` runs the `ltbot` CLI."""

from bot.cli import main

main()
