"""What `check` finds in an issue, as data: the file, line and field it concerns, how serious it is, and a
catalogue message with its values, so the terminal prints it in one language and the browser editor shows it
next to the field in another."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bulletin.i18n import Catalogue, Message


class Severity(StrEnum):
    #: `send` refuses the issue until it is fixed
    ERROR = "error"
    #: worth a second look; the issue may go as it is
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    message: Message
    #: the file as the user reaches it (the issue folder they named, then the file), for the terminal
    path: str
    #: the same file relative to the issue folder, POSIX-style ("news/01-bamako.en.md"; "" for the folder)
    file: str = ""
    line: int | None = None
    #: the front matter or issue.toml key it concerns ("title", "en.subject", "facts"), "body", or None
    field: str | None = None
    #: what to do about it, in the author's terms
    hint: Message | None = None
    #: False when the issue can still be built (and previewed) despite it; True when it cannot
    blocking: bool = False

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def text(self, language: str | None = None) -> str:
        """`WHERE: WHAT` in `language` (the terminal's when None)."""
        return f"{self.location}: {self.message.render(language)}"

    def hint_text(self, language: str | None = None) -> str | None:
        return self.hint.render(language) if self.hint is not None else None

    def sentence(self) -> Message:
        """The message with its hint, as one message (for one-line errors)."""
        if self.hint is None:
            return self.message
        return Message("check.with_hint", what=self.message, hint=self.hint)

    def as_dict(self, language: str | None = None) -> dict:
        """The problem for a web page or JSON: the editor places it by `file` and `field`."""
        return {"severity": str(self.severity), "file": self.file, "line": self.line, "field": self.field,
                "key": self.message.key, "values": {k: str(v) for k, v in self.message.values.items()},
                "message": self.message.render(language), "hint": self.hint_text(language),
                "blocking": self.blocking}

    def _identity(self) -> tuple:
        return (self.severity, self.file, self.line, self.field, self.message)

    def __str__(self) -> str:
        return self.text()


def dedupe(problems: list[Problem]) -> list[Problem]:
    """Each problem once, in order: the same file, line, field and message seen twice is one problem."""
    seen: set[tuple] = set()
    out = []
    for p in problems:
        ident = p._identity()
        if ident not in seen:
            seen.add(ident)
            out.append(p)
    return out


def severity_label(severity: Severity, language: str | None = None) -> str:
    return Catalogue(language or _default()).raw(f"check.severity.{severity}")


def _default() -> str:
    from bulletin import i18n

    return i18n.default_language()


class Report:
    """Collects the problems of one issue; `at(path)` gives a writer bound to one file."""

    def __init__(self, root: Path, shown_root: Path | None = None):
        self.root = root.resolve()
        #: the folder as the user named it, so printed paths look like what they typed
        self.shown_root = shown_root if shown_root is not None else root
        self.problems: list[Problem] = []

    def at(self, path: Path) -> FileReport:
        return FileReport(self, path)

    @property
    def blocked(self) -> bool:
        return any(p.blocking for p in self.problems)

    def add(self, problem: Problem) -> Problem:
        self.problems.append(problem)
        return problem


class FileReport:
    def __init__(self, report: Report, path: Path):
        self.report = report
        absolute = Path(path).resolve()
        try:
            rel = absolute.relative_to(report.root).as_posix()
        except ValueError:  # outside the issue folder (a template, the configuration)
            self.file, self.path = str(path), str(path)
            return
        self.file = "" if rel == "." else rel
        self.path = str(report.shown_root / self.file) if self.file else str(report.shown_root)

    def _add(self, severity: Severity, line: int | None, key: str, field: str | None, hint: Message | None,
             blocking: bool, values: dict) -> Problem:
        return self.report.add(Problem(severity, Message(key, **values), self.path, self.file, line, field, hint,
                                       blocking))

    def error(self, line: int | None, key: str, /, *, field: str | None = None, hint: Message | None = None,
              blocking: bool = True, **values: object) -> Problem:
        """An error; `blocking` (the default) when the issue cannot be built because of it."""
        return self._add(Severity.ERROR, line, key, field, hint, blocking, values)

    def warning(self, line: int | None, key: str, /, *, field: str | None = None, hint: Message | None = None,
                **values: object) -> Problem:
        return self._add(Severity.WARNING, line, key, field, hint, False, values)
