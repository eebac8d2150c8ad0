"""The day of the month the monthly issue goes, as `[schedule].day` says it: a date ("15") or a weekday in the
month ("first tuesday", "last friday"; in French too: "premier mardi", "dernier vendredi").

Dates are 1 to 28, the days every month has. Imports nothing of Bulletin: the configuration reads it at load.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

ORDINALS = {
    "first": 1, "1st": 1, "premier": 1, "1er": 1,
    "second": 2, "2nd": 2, "deuxième": 2, "deuxieme": 2, "2e": 2,
    "third": 3, "3rd": 3, "troisième": 3, "troisieme": 3, "3e": 3,
    "fourth": 4, "4th": 4, "quatrième": 4, "quatrieme": 4, "4e": 4,
    "last": -1, "dernier": -1,
}
WEEKDAYS = {
    "monday": 0, "mon": 0, "lundi": 0,
    "tuesday": 1, "tue": 1, "mardi": 1,
    "wednesday": 2, "wed": 2, "mercredi": 2,
    "thursday": 3, "thu": 3, "jeudi": 3,
    "friday": 4, "fri": 4, "vendredi": 4,
    "saturday": 5, "sat": 5, "samedi": 5,
    "sunday": 6, "sun": 6, "dimanche": 6,
}
_CRON_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", -1: "last"}
_CRON_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LAST_DATE = 28


@dataclass(frozen=True)
class MonthDay:
    """A date of the month (`date`), or the `nth` `weekday` of it (nth -1: the last; weekday 0: Monday)."""

    date: int | None = None
    nth: int | None = None
    weekday: int | None = None

    @classmethod
    def parse(cls, text: str) -> MonthDay:
        """ValueError when `text` is neither a date from 1 to 28 nor an ordinal and a weekday."""
        words = text.strip().lower().split()
        if len(words) == 1 and words[0].isdigit():
            n = int(words[0])
            if 1 <= n <= LAST_DATE:
                return cls(date=n)
        elif len(words) == 2 and words[0] in ORDINALS and words[1] in WEEKDAYS:
            return cls(nth=ORDINALS[words[0]], weekday=WEEKDAYS[words[1]])
        raise ValueError(text)

    def in_month(self, year: int, month: int) -> dt.date:
        """The day this rule names in the month."""
        if self.date is not None:
            return dt.date(year, month, self.date)
        days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1)
                if dt.date(year, month, d).weekday() == self.weekday]
        return dt.date(year, month, days[-1] if self.nth == -1 else days[self.nth - 1])

    def cron(self) -> str:
        """The same day as an APScheduler cron `day` field: "15", "1st tue", "last fri"."""
        if self.date is not None:
            return str(self.date)
        return f"{_CRON_ORDINALS[self.nth]} {_CRON_WEEKDAYS[self.weekday]}"
