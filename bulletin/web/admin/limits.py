"""How much a request under /admin may send (web/bodylimit.py applies it before anything reads the body): a route
declared with `upload=True` takes `[web].upload_max_mb`, any other form `FORM_MAX`."""

from __future__ import annotations

import re
from collections.abc import Callable

from bulletin.config import Config
from bulletin.web.admin.access import PREFIX, ROUTES

#: The largest body of a form without a file (the longest is an issue's text or a list's description).
FORM_MAX = 1_000_000


def upload_max(cfg: Config) -> int:
    """The largest file a page takes, in bytes (`[web].upload_max_mb`, in megabytes of a million bytes)."""
    return cfg.web.upload_max_mb * 1_000_000


def takes_files() -> Callable[[str], bool]:
    """Whether a path is that of a route declared with `upload=True`."""
    patterns = [re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", r.path) + "$") for r in ROUTES if r.upload]
    return lambda path: any(p.match(path) for p in patterns)


def limits(cfg: Config) -> Callable[[str], int | None]:
    """The cap of a request to `path` (None outside /admin)."""
    upload = takes_files()

    def limit(path: str) -> int | None:
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            return None
        return upload_max(cfg) if upload(path) else FORM_MAX

    return limit
