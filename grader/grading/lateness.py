"""Late submissions: how late each one was, and the penalty a stated policy gives (trusted code only).

How late, in this order:
    1. --deadline against the submission's time: the worksheet's "Last modified (submission)" (exact to
       the minute), else the newest time stamp of the submission's picked files (the zip's entry times);
       both read in the course's time zone (--timezone, default the machine's);
    2. without --deadline, the Moodle worksheet's Status ("Submitted for grading - 1 day 2 hours late"):
       Moodle's format_time keeps only the two largest units (25 h 30 min shows as "1 day 1 hour"), so
       this is a fallback, and said so in every output.

The policy (--late-penalty "P[,CAP]"): P percent of the submission's points per started day late,
at most CAP percent (default 100). "10,50": 1 minute late loses 10 %, 3 days late 30 %, 9 days 50 %.
Without a policy lateness is only shown. The penalty is applied to the total (automatic + manual).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

UNITS = {"year": 365 * 86400, "day": 86400, "hour": 3600, "min": 60, "sec": 1}  # Moodle's format_time units
UNITS_DE = {"jahr": "year", "tag": "day", "stunde": "hour", "minute": "min", "sekunde": "sec"}  # de/moodle.php
LATE = re.compile(r"((?:\d+\s+(?:years?|days?|hours?|mins?|secs?)\s*)+)late\b", re.IGNORECASE)
LATE_DE = re.compile(r"((?:\d+\s+(?:Jahre?|Tage?|Stunden?|Minuten?|Sekunden?)\s*)+)zu spät", re.IGNORECASE)  # submittedlateshort
MOODLE_DATE = "%A, %d %B %Y, %I:%M %p"  # userdate()'s default (strftimedaydatetime), English


@dataclass(frozen=True)
class Policy:
    per_day: float  # percent of the points per started day
    cap: float = 100.0  # percent, at most

    def describe(self) -> str:
        return f"{self.per_day:g} % per started day late, at most {self.cap:g} %"


@dataclass
class Lateness:
    seconds: float
    source: str  # "worksheet status" or "deadline"
    penalty: float = 0.0  # fraction of the points taken off, 0..1

    @property
    def days(self) -> int:
        """Started days late (1 second late = 1 day)."""
        return math.ceil(self.seconds / 86400) if self.seconds > 0 else 0

    def describe(self) -> str:
        text = f"late by {duration(self.seconds)} ({self.source})"
        return text + (f"; late penalty {100 * self.penalty:g} %" if self.penalty else "")


def parse_policy(text: str) -> Policy:
    """'10' or '10,50' (percent per started day, cap); raises ValueError with a clear message."""
    parts = [p.strip().rstrip("%").strip() for p in str(text).split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or not all(math.isfinite(n) and 0 <= n <= 100 for n in numbers):
        raise ValueError(f"{text!r} is not PERCENT_PER_DAY[,CAP_PERCENT] with numbers from 0 to 100 (e.g. 10,50)")
    return Policy(*numbers)


def parse_deadline(text: str) -> datetime:
    """An ISO 8601 date and time ('2026-11-30T23:59', '2026-11-30 23:59+01:00'); without an offset it stays
    naive and is read in the course's time zone (`localise`)."""
    try:
        return datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time like 2026-11-30T23:59 (ISO 8601)") from None


def parse_timezone(text: str):
    """An IANA time zone ('Europe/Berlin'); raises ValueError naming the problem."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(str(text).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone like Europe/Berlin (IANA name)") from None


def localise(moment: datetime | None, zone=None) -> datetime | None:
    """A naive time read in `zone` (None: the machine's time zone); an aware one unchanged."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone) if zone is not None else moment.astimezone()


def zone_name(zone=None) -> str:
    """The time zone's name for messages: the IANA key, or the machine's ("CET (this machine's)")."""
    return str(zone) if zone is not None else f"{datetime.now().astimezone().tzname()} (this machine's; --timezone to change)"


def parse_moodle_date(text: str, zone=None) -> datetime | None:
    """A Moodle worksheet time ("Tuesday, 3 September 2024, 2:15 PM") in `zone` (default the machine's); None if not one."""
    try:
        return localise(datetime.strptime(" ".join(str(text).split()), MOODLE_DATE), zone)
    except ValueError:
        return None


def late_from_status(status: str) -> float | None:
    """Seconds late from a Moodle status text ("... - 1 day 2 hours late"); None when it says nothing of it."""
    found = LATE.search(str(status or "")) or LATE_DE.search(str(status or ""))
    if not found:
        return None
    seconds = 0
    for number, unit in re.findall(r"(\d+)\s+([a-zä]+)", found.group(1).lower()):
        unit = next((english for german, english in UNITS_DE.items() if unit.startswith(german)), unit.rstrip("s"))
        seconds += int(number) * UNITS[unit]
    return float(seconds)


def assess(status: str = "", submitted: datetime | None = None, deadline: datetime | None = None,
           policy: Policy | None = None) -> Lateness | None:  # fmt: skip
    """How late one submission was (None when on time or unknown), with the policy's penalty: the exact time
    against the deadline when both are known, else Moodle's status text (rounded by Moodle; said so)."""
    if deadline is not None and submitted is not None:
        seconds, source = (submitted - deadline).total_seconds(), "against --deadline"
    else:
        seconds = late_from_status(status)
        source = "from Moodle's status, which keeps only two units; give --deadline for the exact time"
    if seconds is None or seconds <= 0:
        return None
    late = Lateness(seconds, source)
    if policy is not None:
        late.penalty = min(policy.cap, policy.per_day * late.days) / 100
    return late


def duration(seconds: float) -> str:
    """Moodle's way of saying a duration: the two largest units ("1 day 2 hours", "5 mins 3 secs")."""
    left, parts = int(seconds), []
    for unit, size in UNITS.items():
        count, left = divmod(left, size)
        if count or parts:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    parts = [p for p in parts[:2] if not p.startswith("0 ")] or ["0 secs"]
    return " ".join(parts)
