"""Forum dates as written on the page ("24 Aug 2020 04:27", "Sep 20, 2012 11:47",
"martedì 21 gennaio 2020, 14:24", "Mon Aug 24, 2020 4:27 am") to UTC datetimes.

Forums print times in the board's (or the viewer's) time zone and do not say which; the
parsers treat them as UTC unless the caller passes ``tz``. Month names: English, Italian,
German, French, Spanish, Portuguese (full and abbreviated).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone, tzinfo

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
    """Best-effort parse of a forum's human date; None when no day, month and year are found."""
    if not text:
        return None
    folded = _fold(text)
    tokens = _TOKEN.findall(folded)
    month = None
    numbers: list[int] = []
    for tok in tokens:
        if tok.isdigit():
            numbers.append(int(tok))
        elif month is None and tok in _MONTHS:
            month = _MONTHS[tok]
    time_m = re.search(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(am|pm)?", folded)
    hour = minute = second = 0
    if time_m:
        hour, minute = int(time_m.group(1)), int(time_m.group(2))
        second = int(time_m.group(3) or 0)
        if time_m.group(4) == "pm" and hour < 12:
            hour += 12
        if time_m.group(4) == "am" and hour == 12:
            hour = 0
        date_part = folded[: time_m.start()] + folded[time_m.end():]
        numbers = [int(t) for t in re.findall(r"\d+", date_part)]
    year = next((n for n in numbers if n > 31), None)
    if year is None:
        return None
    rest = [n for n in numbers if n != year or numbers.count(year) > 1][:2]
    if month is None:  # numeric date: 2020-08-24 or 24.08.2020 / 24/08/2020
        iso = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", folded)
        if iso:
            year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
        elif len(rest) >= 2:
            day, month = rest[0], rest[1]
        else:
            return None
    else:
        day = next((n for n in rest if 1 <= n <= 31), None)
        if day is None:
            return None
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        return None
