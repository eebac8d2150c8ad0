"""`bulletin bounces ingest`: read bounces and complaints from a mailbox, a file or a mail server's pipe."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from bulletin import i18n
from bulletin.config import Config
from bulletin.errors import BulletinError

if TYPE_CHECKING:
    from bulletin.services.bounces import IngestSummary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bounces", help="read bounces and spam complaints back into the lists")
    sub = parser.add_subparsers(dest="bounces_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser(
        "ingest",
        help="read a Maildir folder, an mbox file, an IMAP mailbox or one message on stdin",
        description="Read bounce and complaint reports and apply the [bounces] policy. Junk (spam, auto-replies, "
        "delay warnings, malformed or huge messages) is skipped and counted. Safe to run again on the same messages.",
    )
    p.add_argument("source", nargs="?", metavar="SOURCE", help="a Maildir folder, an mbox file, or - for standard input")
    p.add_argument("--imap", action="store_true", help="read the unseen messages of the [bounces] IMAP mailbox")
    p.add_argument(
        "--recipient",
        metavar="ADDRESS",
        help="the envelope recipient of a piped message (for example Postfix's ${recipient}), where VERP tokens sit",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--explain",
        action="store_true",
        help="print, for each message, what was recognised, by which rule, and why it was skipped or not matched",
    )
    p.set_defaults(handler=ingest_command)


def _messages(args: argparse.Namespace, cfg: Config):
    from bulletin.bounces import sources

    if args.imap == bool(args.source):
        raise BulletinError("give either SOURCE (a Maildir folder, an mbox file or -) or --imap", where="bounces ingest")
    if args.imap:
        return sources.imap_messages(cfg)
    if args.source == "-":
        return _with_recipient(sources.stdin_message(sys.stdin.buffer, cfg.bounces.max_message_bytes), args.recipient)
    return sources.open_source(args.source)


def _with_recipient(messages, recipient: str | None):
    """Put the envelope recipient the mail server passed on the command line where the parser looks for it."""
    for m in messages:
        if recipient:
            raw = m.read()
            header = f"X-Envelope-To: <{recipient.strip().strip('<>')}>\r\n".encode()
            m.read = lambda raw=raw, header=header: header + raw
            m.size += len(header)
        yield m


def _print_explained(explained, out) -> None:
    """One message as the ingestion explained it (bounces.ingest.Explained): where, then each line."""
    print(f"{explained.where}  {explained.message_id}".rstrip(), file=out)
    for line in explained.lines:
        print(f"  - {line.render()}", file=out)
    out.flush()


def _print_summary(summary: IngestSummary) -> None:
    skipped = ", ".join(
        f"{i18n.Message(f'bounces.skip.{reason}').render()} {n}" for reason, n in sorted(summary.skipped.items())
    )
    print(i18n.Message("bounces.summary.read", messages=summary.messages, hard=summary.hard, soft=summary.soft,
                       complaints=summary.complaints).render())
    print(i18n.Message("bounces.summary.marked", bounced=summary.marked_bounced,
                       complained=summary.marked_complained).render())
    print(i18n.Message("bounces.summary.skipped", skipped=sum(summary.skipped.values()),
                       reasons=f" ({skipped})" if skipped else "", unmatched=summary.unmatched,
                       duplicates=summary.duplicates).render())


def ingest_command(args: argparse.Namespace, cfg: Config) -> int:
    # Imported here, not at the top: every `bulletin` command registers this module at start-up.
    from bulletin.services.bounces import ingest
    from bulletin.services.store import Store

    messages = _messages(args, cfg)
    # With --json the explanations go to stderr, so that stdout stays one JSON document.
    out = sys.stderr if args.json else sys.stdout
    explain = (lambda explained: _print_explained(explained, out)) if args.explain else None
    summary = ingest(Store.open(cfg), cfg, messages, explain=explain)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_summary(summary)
    return 0
