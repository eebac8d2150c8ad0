"""The `bulletin` command: parses arguments, calls the layer below, prints. Nothing else lives here.

Each area registers its subcommands from its own module (compose, store, deliver, web, bounces); every
handler takes `(args, config)` and returns an exit status. Bad input never prints a traceback: a
`BulletinError` becomes `error: WHERE: WHAT` on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from bulletin import __version__
from bulletin import config as config_mod
from bulletin import files, i18n
from bulletin.errors import BulletinError

#: Modules under bulletin.cli that register subcommands, in the order `bulletin --help` lists them.
COMMAND_MODULES = ("compose", "store", "deliver", "web", "users", "bounces")


class ArgumentParser(argparse.ArgumentParser):
    """Usage mistakes print `error: COMMAND: WHAT` like every other error, with the usage line as a hint."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="bulletin",
        description="Compose a Markdown issue into a responsive email and deliver it to subscriber lists.",
    )
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $BULLETIN_CONFIG, ./bulletin.toml)")
    parser.add_argument("--version", action="version", version=f"bulletin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bulletin.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"bulletin.cli.{name}":
                continue  # that area is not built yet
            raise
        module.register(sub)
    return parser


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # A configuration that does not load is reported in the terminal's language too.
        i18n.set_default_language(i18n.terminal_language(i18n.SOURCE_LANGUAGE))
        cfg = config_mod.load(args.config)
        org_language = cfg.organisation.language
        i18n.set_default_language(i18n.terminal_language(org_language), fallback=org_language)
        with files.created_with(cfg.files.file_mode):  # the database, outbox and exports: private by default
            return int(args.handler(args, cfg) or 0)
    except BulletinError as e:
        error(str(e))
        return 1
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
