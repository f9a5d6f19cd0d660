"""Command line: ``python -m scraper {scrape,split,push} ...`` (``--help`` on each for its options).

Each subcommand is a module exposing ``configure_parser(parser)`` and ``run(args) -> int``; only
the chosen one is imported, so ``scrape`` never pays for the Hub libraries that ``push`` needs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

from scraper.errors import ScraperError

SUBCOMMANDS = {
    "scrape": ("scraper.scrape", "scrape image search results into DIR/<label>/ + manifest.jsonl"),
    "split": ("scraper.split", "make train/validation folders with near-duplicates kept together"),
    "push": ("scraper.push", "publish a split image folder to the Hub as a dataset"),
}


def _load(module_name: str) -> ModuleType | None:
    """Import a subcommand module, or ``None`` if that module itself does not exist."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return None


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the chosen subcommand, and return its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m scraper", description="Build the clean/messy image dataset.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue
        module = _load(module_name)
        if module is None:
            print(f"error: '{name}' is not available in this checkout ({module_name} is missing)", file=sys.stderr)
            return 2
        module.configure_parser(sub)
        sub.set_defaults(handler=module.run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("selenium", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except ScraperError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
