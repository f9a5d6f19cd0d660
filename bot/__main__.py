"""``python -m bot``: see bot/README.md or ``python -m bot --help``."""

from bot.cli import main

raise SystemExit(main())
