"""`python -m bot` runs the `ltbot` CLI."""

from bot.cli.main import main

main()
