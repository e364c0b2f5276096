"""Working days in China: the official calendar where it is published, a safe bound past it.

The State Council publishes each year's holidays and make-up working days (调休) in the
autumn or winter before (国务院办公厅关于节假日安排的通知); the ``chinese-calendar`` package
carries them for the years it was released for (1.11: 2004–2026). A listing started in December
already runs into a year whose notice may not be in the installed package.

Past the package's last year we do not guess the notice. We count a day as a working day only
if it is Monday to Friday and lies outside every window a statutory holiday
(全国年节及纪念日放假办法) could be arranged into: New Year 30 December to 3 January, the
Spring Festival from two days before lunar New Year to the seventh day, Qingming, Dragon Boat
and Mid-Autumn two days either side, Labour Day 28 April to 5 May, National Day 1–8 October.
Make-up Saturdays are not counted.
So the count never calls a holiday a working day: a listing computed this way runs at least as
long as the law requires (perhaps a day or two longer), never shorter, and is marked
provisional. Before the package's first year there is nothing to bound, and we refuse.

>>> from datetime import date
>>> is_workday(date(2025, 10, 11))  # a make-up Saturday after National Day 2025
True
>>> is_workday(date(2027, 2, 8))  # Monday after lunar New Year 2027: a holiday window
False
>>> is_workday(date(2027, 3, 1)), is_provisional(date(2027, 3, 1))
(True, True)
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from chinese_calendar import constants
from lunardate import LunarDate

from parkgis.errors import InvalidData

#: Days either side of a movable one-day holiday that an arrangement may join to it.
MOVABLE_SPAN = 2


class OutsideCalendar(InvalidData):
    """A date before the official holiday calendar we have."""


def calendar_years() -> tuple[int, int]:
    """First and last year the installed official holiday calendar covers."""
    return min(constants.holidays).year, max(constants.holidays).year


def is_provisional(d: date) -> bool:
    """Whether ``d`` lies past the official calendar (counted by the safe bound)."""
    return d.year > calendar_years()[1]


def _span(centre: date, before: int, after: int) -> set[date]:
    return {centre + timedelta(days=k) for k in range(-before, after + 1)}


@lru_cache(maxsize=64)
def holiday_windows(year: int) -> frozenset[date]:
    """Every day of ``year`` that some holiday arrangement could make a day off.

    >>> date(2027, 10, 8) in holiday_windows(2027), date(2027, 10, 9) in holiday_windows(2027)
    (True, False)
    """
    days: set[date] = set()
    days |= _span(date(year, 1, 1), 0, 2) | _span(date(year, 12, 31), 1, 0)
    days |= _span(LunarDate(year, 1, 1).to_solar_date(), 2, 7)
    qingming = [
        d
        for d, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
        if name == "清明"
    ]
    for d in qingming:
        days |= _span(d, MOVABLE_SPAN, MOVABLE_SPAN)
    days |= _span(date(year, 5, 1), 3, 4)
    days |= _span(LunarDate(year, 5, 5).to_solar_date(), MOVABLE_SPAN, MOVABLE_SPAN)
    days |= _span(LunarDate(year, 8, 15).to_solar_date(), MOVABLE_SPAN, MOVABLE_SPAN)
    days |= _span(date(year, 10, 1), 0, 7)
    return frozenset(d for d in days if d.year == year)


def is_workday(d: date) -> bool:
    """Whether ``d`` is a working day: the official calendar where published, else the safe
    bound described in the module docstring."""
    first, last = calendar_years()
    if first <= d.year <= last:
        return bool(chinese_calendar.is_workday(d))
    if d.year < first:
        raise OutsideCalendar(
            f"节假日安排只覆盖 {first} 年以后，无法确定 {d} 是否为工作日 / the official holiday "
            f"calendar starts in {first}: whether {d} was a working day is unknown",
            field="listing_start",
        )
    return bounded_workday(d)


def bounded_workday(d: date) -> bool:
    """The safe bound: Monday to Friday and outside every possible holiday window."""
    return d.weekday() < 5 and d not in holiday_windows(d.year)


def nth_workday(start: date, n: int) -> date:
    """The day on which ``n`` working days counted from ``start`` (itself included when it is
    one) are complete.

    >>> nth_workday(date(2025, 9, 25), 10)  # across National Day 2025 and its two 调休 days
    datetime.date(2025, 10, 14)
    """
    d, count = start, 0
    while True:
        if is_workday(d):
            count += 1
            if count == n:
                return d
        d += timedelta(days=1)
