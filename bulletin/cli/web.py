"""`bulletin serve`: the unsubscribe, subscribe and archive pages under uvicorn."""

from __future__ import annotations

import argparse

from bulletin.config import Config
from bulletin.i18n import default_catalogue


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the web pages: unsubscribe, subscribe, archive, the workspace",
                              description="Serve the unsubscribe, subscribe and archive pages and the web "
                              "workspace (/admin/) at [web].host:port.")
    p.add_argument("--host", help="address to listen on (default: [web].host)")
    p.add_argument("--port", type=int, help="port to listen on (default: [web].port)")
    p.set_defaults(handler=serve)


def serve(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.web.app import create_app
    from bulletin.web.server import serve as run

    app = create_app(cfg)  # opens and migrates the database first: a bad URL is an error, not a traceback
    host, port = args.host or cfg.web.host, args.port or cfg.web.port
    print(default_catalogue()("cli.serve.listening", base_url=cfg.web.base_url, host=host, port=port), flush=True)
    run(app, host, port)
    return 0
