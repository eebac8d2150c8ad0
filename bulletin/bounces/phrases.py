"""The words of bounces in each language, kept as data in phrases/*.toml: which say a failure is for good, which
say it may pass, which mark a delay warning, an auto-reply or a challenge. See phrases/README.md.

Text is compared folded (lower case, no accents, one apostrophe, single spaces), whole words only, so that
`Boîte  du destinataire\\npleine` and `boite du destinataire pleine` are the same words.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FOLDER = Path(__file__).parent / "phrases"

#: Classes of the body's words; `permanent` and `temporary` carry an RFC 3463 status each.
BODY_CLASSES = ("permanent", "temporary", "failure", "delay", "auto_reply", "challenge", "original", "sender")
SUBJECT_CLASSES = ("failure", "delay", "auto_reply")
_STATUS_KEY = re.compile(r"^[45]\.\d{1,3}\.\d{1,3}$")
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The form phrases are compared in: lower case, no accents (ä -> ae), straight apostrophes, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower().translate(_GERMAN)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Phrase:
    """One entry of a table: the words as written there, their language and class, and the status they mean."""

    text: str
    language: str
    cls: str
    status: str = ""

    @property
    def hard(self) -> bool:
        return self.cls == "permanent"


@dataclass(frozen=True)
class Match:
    phrase: Phrase
    start: int
    end: int


class PhraseFileError(ValueError):
    """A phrase table is not as phrases/README.md describes it (a packaging mistake, found by the tests)."""


class Tables:
    """Every language's phrases, compiled into one whole-word pattern per scope and class."""

    def __init__(self, phrases: list[Phrase], subject: list[Phrase]):
        self.phrases = phrases
        self.subject_phrases = subject
        self._body = self._compile(phrases, BODY_CLASSES)
        self._subject = self._compile(subject, SUBJECT_CLASSES)

    @staticmethod
    def _compile(phrases: list[Phrase], classes: tuple[str, ...]) -> dict[str, tuple[re.Pattern[str], dict]]:
        out = {}
        for cls in classes:
            by_text: dict[str, Phrase] = {}
            for p in phrases:
                if p.cls == cls:
                    by_text.setdefault(fold(p.text), p)
            if not by_text:
                out[cls] = (re.compile(r"(?!)"), by_text)
                continue
            alternatives = "|".join(re.escape(t) for t in sorted(by_text, key=len, reverse=True))
            out[cls] = (re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)"), by_text)
        return out

    def find(self, folded: str, cls: str, *, subject: bool = False) -> list[Match]:
        """Every match of a class in already folded text, in order."""
        pattern, by_text = (self._subject if subject else self._body)[cls]
        return [Match(by_text[m.group(0)], m.start(), m.end()) for m in pattern.finditer(folded)]

    def first(self, folded: str, cls: str, *, subject: bool = False) -> Match | None:
        pattern, by_text = (self._subject if subject else self._body)[cls]
        m = pattern.search(folded)
        return Match(by_text[m.group(0)], m.start(), m.end()) if m else None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({p.language for p in self.phrases}))


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PhraseFileError(f"{where}: expected a list of words")
    return value


def load_file(path: Path) -> tuple[list[Phrase], list[Phrase]]:
    """The body and subject phrases of one language file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    language = data.pop("language", None)
    if not isinstance(language, str) or not language:
        raise PhraseFileError(f"{path.name}: no language")
    body: list[Phrase] = []
    subject: list[Phrase] = []
    for key, value in data.items():
        where = f"{path.name}: {key}"
        if key in ("permanent", "temporary"):
            if not isinstance(value, dict):
                raise PhraseFileError(f"{where}: expected a table of RFC 3463 statuses")
            for status, words in value.items():
                if not _STATUS_KEY.match(status) or (status[0] == "5") != (key == "permanent"):
                    raise PhraseFileError(f"{where}: {status!r} is not a {key} RFC 3463 status")
                body += [Phrase(w, language, key, status) for w in _strings(words, f"{where}.{status}")]
        elif key == "subject":
            if not isinstance(value, dict) or set(value) - set(SUBJECT_CLASSES):
                raise PhraseFileError(f"{where}: expected lists named {', '.join(SUBJECT_CLASSES)}")
            for cls, words in value.items():
                subject += [Phrase(w, language, cls) for w in _strings(words, f"{where}.{cls}")]
        elif key in BODY_CLASSES:
            if value != []:
                body += [Phrase(w, language, key) for w in _strings(value, where)]
        else:
            raise PhraseFileError(f"{where}: unknown key (see phrases/README.md)")
    return body, subject


def load(folder: Path = FOLDER) -> Tables:
    body: list[Phrase] = []
    subject: list[Phrase] = []
    for path in sorted(folder.glob("*.toml")):
        b, s = load_file(path)
        body += b
        subject += s
    return Tables(body, subject)


@lru_cache(maxsize=1)
def tables() -> Tables:
    """The package's tables, read once per process."""
    return load()
