"""`python -m bot` runs the `kneebot` command."""

from bot.cli import main

main()
