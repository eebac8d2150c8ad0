"""`bulletin build`, `check` and `preview`: the communications officer's commands for drafting an issue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bulletin.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="a new issue folder from the commented starter (French, with an English edition)",
                       description="Create DIR/SLUG (default DIR: issues/) from the starter: issue.toml, director.md, "
                       "news/01-exemple.md, highlights.md, their English editions (*.en.md) and two stand-in images. "
                       "Every front matter key is shown with an example and a comment.")
    p.add_argument("slug", metavar="SLUG", help="the folder name, also the issue's web address: e.g. 2026-12")
    p.add_argument("--dir", metavar="DIR", type=Path, default=Path("issues"), help="where to create it (default: issues/)")
    _templates_option(p)
    p.set_defaults(handler=new)

    p = sub.add_parser("build", help="render an issue to DIR/<slug>.<lang>.html and .txt")
    p.add_argument("issue_dir", metavar="ISSUE_DIR", type=Path)
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("build"), help="output folder (default: build/)")
    _templates_option(p)
    p.set_defaults(handler=build)

    p = sub.add_parser("check", help="every problem of an issue with its file and line, and each edition's weight")
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


def new(args, cfg: Config, today=None) -> int:
    from datetime import date

    from bulletin.content.starter import create_issue
    from bulletin.i18n import Message
    from bulletin.render.pipeline import TEMPLATES_DIR

    starter = Path(args.templates or TEMPLATES_DIR) / "starter"
    folder, files = create_issue(args.dir, args.slug, cfg, starter, today=today or date.today())
    print(Message("new.created", path=folder))
    for path in files:
        print(f"  {path}")
    print(Message("new.next", path=folder))
    return 0


def build(args, cfg: Config) -> int:
    from bulletin.render.build import build_issue

    result = build_issue(args.issue_dir, cfg, args.out, templates_dir=args.templates)
    for problem in result.problems:
        print_problem(problem, sys.stderr)
    for path in result.written:
        print(path)
    return 0


def check(args, cfg: Config) -> int:
    from bulletin.i18n import Message
    from bulletin.render.check import check_issue

    report = check_issue(args.issue_dir, cfg, templates_dir=args.templates)
    for problem in report.problems:
        print_problem(problem, sys.stdout)
    for w in report.weights:
        print(Message("check.weight", language=w.language, kb=_kb(w.total), html_kb=_kb(w.html_bytes),
                      images_kb=_kb(w.image_bytes), count=len(w.images)))
    if not report.problems:
        print(Message("check.ok", path=args.issue_dir))
        return 0
    print(Message("check.summary", path=args.issue_dir, errors=len(report.errors), warnings=len(report.warnings)),
          file=sys.stderr)
    return 1 if report.errors else 0


def problem_line(problem) -> str:
    """`FILE:LINE: error: WHAT` in the terminal's language."""
    from bulletin.content.problems import severity_label

    return f"{problem.location}: {severity_label(problem.severity)} {problem.message}"


def print_problem(problem, stream) -> None:
    """`FILE:LINE: error: WHAT`, and the hint indented below it."""
    from bulletin.i18n import catalogue, default_language

    print(problem_line(problem), file=stream)
    if problem.hint is not None:
        print(f"    {catalogue(default_language()).raw('check.hint')} {problem.hint}", file=stream)


def _kb(n: int) -> int:
    return (n + 1023) // 1024


def preview(args, cfg: Config) -> int:
    from bulletin.cli.preview import serve_preview

    serve_preview(args.issue_dir, cfg, host=args.host, port=args.port, templates_dir=args.templates)
    return 0
