"""The generated upload the intake benchmarks read (issue 3).

Deterministic for a seed: UTF-8 with BOM, CRLF line ends, a header, and per 100 rows
- 10 invalid rows (n % 10 == 3): scientific notation, too short, too long, letters, empty,
  unknown country code, an extension, a valid number with an empty message;
- 5 16-bit messages (n % 20 == 7): Greek, Cyrillic, emoji, an em dash, a 'ë' (some multi-part);
- 2 exact repeats of the previous row (n % 50 == 1), which the intake drops as duplicates;
- the rest 7-bit texts (some with GSM extension characters, some of two or three parts),
with numbers from ten countries written in mixed formats: international with spaces, dashes or
brackets, the `00` prefix, bare digits, a spreadsheet's `'+…`, `="…"` and `….0`, and for the
default region (GB) also national and lost-leading-zero forms.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

# (country calling code, start of the national number, random digits after it): mobile ranges
# that libphonenumber holds valid for every choice of the random digits.
COUNTRIES = (
    ("44", "7400", 6),  # GB
    ("49", "1512", 7),  # DE
    ("33", "612", 6),  # FR
    ("39", "312", 7),  # IT
    ("34", "612", 6),  # ES
    ("31", "612", 6),  # NL
    ("1", "212736", 4),  # US
    ("27", "71", 7),  # ZA
    ("61", "412", 6),  # AU
    ("91", "98", 8),  # IN
)
Format = Callable[[str, str], str]
FORMATS: tuple[Format, ...] = (
    lambda cc, nsn: f"+{cc} {nsn[:3]} {nsn[3:6]} {nsn[6:]}",
    lambda cc, nsn: f"+{cc}-{nsn[:3]}-{nsn[3:]}",
    lambda cc, nsn: f"+{cc} ({nsn[:3]}) {nsn[3:]}",
    lambda cc, nsn: f"00{cc}{nsn}",
    lambda cc, nsn: f"{cc}{nsn}",  # bare digits: read both ways by the intake
    lambda cc, nsn: f"'+{cc}{nsn}",  # a spreadsheet's text marker
    lambda cc, nsn: f'="+{cc}{nsn}"',  # a formula that forces text
    lambda cc, nsn: f"{cc}{nsn}.0",  # exported as a float
    lambda cc, nsn: f"+{cc}\u00a0{nsn}",  # a non-breaking space
)
NATIONAL_GB: tuple[Format, ...] = (
    lambda cc, nsn: f"0{nsn[:4]} {nsn[4:]}",
    lambda cc, nsn: nsn,  # the leading 0 lost in a spreadsheet
)
INVALID_NUMBERS = (
    "4.47401E+11",
    "12345",
    "+44 7400 1234567890",
    "call me",
    "",
    "+999 12345678",
    "+44 20 7946 0958 ext. 12",
    "+44 7400 12",
)
NAMES = ("Anna", "Ben", "Chloé", "Dan", "Élise", "Jörg", "Ole", "Priya", "Søren", "Åsa")
DAYS = ("Monday", "Tuesday", "Friday", "tomorrow")
TEXTS_7BIT = (
    "Hi {name}, your appointment is on {day} at 10:00. Reply STOP to opt out.",
    "Dear {name}, your order #{n} has shipped and arrives {day}.",
    "{name}, your code is {n}. It expires in 10 minutes.",
    "Reminder for {name}: " + "the meeting moved to the big room upstairs. " * 5,
    "{name}: prices [incl. VAT] ~ see {{portal}} for order {n}",
    "Hello {name}, " + "your subscription renews soon, check the details online. " * 7,
)
TEXTS_16BIT = (
    "Γεια σου {name}! Το ραντεβού σας είναι {day}.",
    "{name} 😀 thanks for joining the club",
    "Привет, {name}! Заказ {n} отправлен.",
    "{name} — your table is booked for {day}.",
    "Zoë says hi to {name}: " + "see you at the café later this week. " * 3,
)


def _cell(value: str) -> str:
    """A CSV cell, quoted when it must be."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _number(rng: random.Random) -> str:
    cc, start, digits = rng.choice(COUNTRIES)
    nsn = f"{start}{rng.randrange(10**digits):0{digits}d}"
    formats = FORMATS + NATIONAL_GB if cc == "44" else FORMATS
    return rng.choice(formats)(cc, nsn)


def _row(n: int, rng: random.Random) -> str:
    name = rng.choice(NAMES)
    texts = TEXTS_16BIT if n % 20 == 7 else TEXTS_7BIT
    text = rng.choice(texts).format(name=name, day=rng.choice(DAYS), n=n)
    number = _number(rng)
    if n % 10 == 3:
        kind = (n // 10) % (len(INVALID_NUMBERS) + 1)
        if kind == len(INVALID_NUMBERS):
            text = ""  # a valid number with nothing to send
        else:
            number = INVALID_NUMBERS[kind]
    return f"{_cell(number)},{_cell(text)},{_cell(name)}"


def build_file(rows: int, seed: int = 7) -> bytes:
    """An upload of `rows` data rows (deterministic for a seed)."""
    rng = random.Random(seed)
    lines = ["Phone Number,Message,Name"]
    for n in range(rows):
        lines.append(lines[-1] if n % 50 == 1 else _row(n, rng))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def write_file(path: Path, rows: int, seed: int = 7) -> Path:
    """Write `build_file(rows, seed)` to `path` and return it."""
    path.write_bytes(build_file(rows, seed))
    return path
