"""`bulletin build`, `check` and `preview`: the communications officer's commands for drafting an issue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bulletin.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="render an issue to DIR/<slug>.<lang>.html and .txt")
    p.add_argument("issue_dir", metavar="ISSUE_DIR", type=Path)
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("build"), help="output folder (default: build/)")
    _templates_option(p)
    p.set_defaults(handler=build)

    p = sub.add_parser("check", help="lint an issue: required fields, alt text, links, sizes")
    p.add_argument("issue_dir", metavar="ISSUE_DIR", type=Path)
    _templates_option(p)
    p.set_defaults(handler=check)

    p = sub.add_parser("preview", help="serve the issue at phone and desktop width; reloads on save")
    p.add_argument("issue_dir", metavar="ISSUE_DIR", type=Path)
    p.add_argument("--port", type=int, default=8025, help="port on 127.0.0.1 (default: 8025)")
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    _templates_option(p)
    p.set_defaults(handler=preview)


def _templates_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--templates", metavar="DIR", type=Path, default=None,
                   help="a customised copy of the email templates (default: the templates/ folder)")


def build(args, cfg: Config) -> int:
    from bulletin.render.build import build_issue

    result = build_issue(args.issue_dir, cfg, args.out, templates_dir=args.templates)
    for warning in dict.fromkeys(w for ed in result.editions for w in ed.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    for path in result.written:
        print(path)
    return 0


def check(args, cfg: Config) -> int:
    from bulletin.render.check import check_issue

    problems = check_issue(args.issue_dir, cfg, templates_dir=args.templates)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.issue_dir}", file=sys.stderr)
        return 1
    print(f"ok: {args.issue_dir}")
    return 0


def preview(args, cfg: Config) -> int:
    from bulletin.cli.preview import serve_preview

    serve_preview(args.issue_dir, cfg, host=args.host, port=args.port, templates_dir=args.templates)
    return 0
