"""Forum dates as written on the page ("24 Aug 2020 04:27", "Sep 20, 2012 11:47",
"martedì 21 gennaio 2020, 14:24", "Mon Aug 24, 2020 4:27 am", "05-30-2020, 12:40 AM",
"Today, 10:32 AM", "Yesterday at 9:15 pm", "5 minutes ago") to UTC datetimes.

Forums print times in the board's (or the viewer's) time zone and do not say which; the
parsers treat them as UTC unless the caller passes ``tz``. Month names: English, Italian,
German, French, Spanish, Portuguese (full and abbreviated). Numeric dates are day first
("24.08.2020", "24/08/2020") unless that is impossible ("08/24/2020"), except vBulletin's
default "05-30-2020" (month-day-year with dashes). "Today" / "Yesterday" (and oggi / ieri,
heute / gestern, aujourd'hui / hier, hoy / ayer, hoje / ontem) and "N minutes / hours ago"
count from ``now``, the page's fetch time.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone, tzinfo

_MONTHS: dict[str, int] = {}
for number, names in enumerate([
    "january jan gennaio gen januar janvier janv enero ene janeiro",
    "february feb febbraio februar fevrier fev febrero febreiro fevereiro",
    "march mar marzo marz maerz mars marco",
    "april apr aprile avril avr abril abr",
    "may maggio mag mai mayo maio",
    "june jun giugno giu juni juin junio junho",
    "july jul luglio lug juli juillet juil julio julho",
    "august aug agosto ago aout",
    "september sep sept settembre set septembre septiembre setembro",
    "october oct ottobre ott oktober okt octobre octubre outubro out",
    "november nov novembre novemb noviembre novembro",
    "december dec dicembre dic dezember dez decembre diciembre dezembro",
], start=1):
    for name in names.split():
        _MONTHS.setdefault(name, number)

_TOKEN = re.compile(r"[a-z]+|\d+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def parse_forum_date(text: str | None, tz: tzinfo = timezone.utc) -> datetime | None:
    """Best-effort parse of a forum's absolute date; None when no day, month and year are found
    (a date without a time of day is midnight)."""
    if not text:
        return None
    folded = _fold(text)
    found = _absolute(folded, _clock(folded), tz)
    return found[0] if found else None


#: What :func:`read_forum_date` tells: the time (None when the text holds no date) and its
#: precision, ``"exact"`` when a time of day is written, ``"day"`` when only the day is known
#: (then dated 23:59:59 of that day, as every ``day`` post is).
ForumTime = tuple[datetime | None, str]

_RELATIVE_DAYS = {"today": 0, "oggi": 0, "heute": 0, "aujourd'hui": 0, "aujourdhui": 0, "hoy": 0, "hoje": 0,
                  "yesterday": 1, "ieri": 1, "gestern": 1, "hier": 1, "ayer": 1, "ontem": 1}
_RELATIVE = re.compile(r"(?<![a-z])(" + "|".join(re.escape(w) for w in _RELATIVE_DAYS) + r")(?![a-z])")
_AGO = re.compile(r"(\d+|an?|one)\s+(second|minute|min|hour|hr)s?\s+ago")
_AGO_SECONDS = {"second": 1, "minute": 60, "min": 60, "hour": 3600, "hr": 3600}


def read_forum_date(text: str | None, *, now: datetime | None = None, tz: tzinfo = timezone.utc) -> ForumTime:
    """A forum's printed time (absolute, or relative to ``now``) and its precision; see
    :data:`ForumTime`. Relative forms need ``now`` (the fetch time); without it they read as
    no date."""
    if not text:
        return None, "exact"
    folded = _fold(text)
    clock = _clock(folded)
    found = _absolute(folded, clock, tz)
    if found is None and now is not None:
        found = _relative(folded, clock, now, tz)
    if found is None:
        return None, "exact"
    when, has_clock = found
    if has_clock:
        return when, "exact"
    return when.replace(hour=23, minute=59, second=59), "day"


def _relative(folded: str, clock: re.Match | None, now: datetime, tz: tzinfo) -> tuple[datetime, bool] | None:
    if "less than a minute ago" in folded or "just now" in folded:
        return now.astimezone(timezone.utc), True
    ago = _AGO.search(folded)
    if ago:
        count = int(ago.group(1)) if ago.group(1).isdigit() else 1
        return (now - timedelta(seconds=count * _AGO_SECONDS[ago.group(2)])).astimezone(timezone.utc), True
    day = _RELATIVE.search(folded.replace("’", "'"))
    if day is None:
        return None
    local = now.astimezone(tz) - timedelta(days=_RELATIVE_DAYS[day.group(1)])
    hour, minute, second = _hms(clock) if clock else (0, 0, 0)
    when = datetime(local.year, local.month, local.day, hour, minute, second, tzinfo=tz)
    return when.astimezone(timezone.utc), clock is not None


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?")
_US_DASHED = re.compile(r"(?<!\d)(\d{1,2})-(\d{1,2})-(\d{4})(?!\d)")


def _clock(folded: str) -> re.Match | None:
    return _CLOCK.search(folded)


def _hms(clock: re.Match) -> tuple[int, int, int]:
    hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
    meridiem = (clock.group(4) or "").replace(".", "")
    if meridiem == "pm" and hour < 12:
        hour += 12
    if meridiem == "am" and hour == 12:
        hour = 0
    return hour, minute, second


def _absolute(folded: str, clock: re.Match | None, tz: tzinfo) -> tuple[datetime, bool] | None:
    """The absolute date in ``folded`` (and whether a time of day came with it), or None."""
    month = None
    for tok in _TOKEN.findall(folded):
        if not tok.isdigit() and tok in _MONTHS:
            month = _MONTHS[tok]
            break
    hour = minute = second = 0
    date_part = folded
    if clock:
        hour, minute, second = _hms(clock)
        date_part = folded[: clock.start()] + " " + folded[clock.end():]
    numbers = [int(t) for t in re.findall(r"\d+", date_part)]
    year = next((n for n in numbers if n > 31), None)
    if year is None:
        return None
    rest = [n for n in numbers if n != year or numbers.count(year) > 1][:2]
    if month is None:  # numeric date: 2020-08-24, 24.08.2020 / 24/08/2020, vBulletin's 05-30-2020
        iso = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", date_part)
        us = _US_DASHED.search(date_part)
        if iso:
            year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
        elif us and int(us.group(1)) <= 12:
            month, day, year = int(us.group(1)), int(us.group(2)), int(us.group(3))
        elif len(rest) >= 2:
            day, month = rest[0], rest[1]
            if month > 12 >= day:  # "08/24/2020" can only be month first
                day, month = month, day
        else:
            return None
    else:
        day = next((n for n in rest if 1 <= n <= 31), None)
        if day is None:
            return None
    try:
        when = datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        return None
    return when, clock is not None
