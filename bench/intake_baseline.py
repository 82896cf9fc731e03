"""The bare baseline process for the intake benchmark (issue 3).

    python bench/intake_baseline.py FILE.csv

Only what any intake must do, nothing else: decode the bytes (UTF-8 with or without BOM),
`csv.reader`, phonenumbers parse + validate + E.164 format (pattern cache on), a regex test for
the GSM 7-bit alphabet and the part count. Prints one line of counts so the work is observable.
Imports nothing from smsbatch, so its time is a floor no product change can move.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

# GSM 03.38: the basic table and the extension table (two septets each).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€"
GSM_TEXT = re.compile("[" + re.escape(GSM_BASIC + GSM_EXTENSION) + "]*")
EXTENSION = re.compile("[" + re.escape(GSM_EXTENSION) + "]")


def parts(text: str) -> tuple[bool, int]:
    """(is 7-bit, SMS parts) for one message text."""
    if GSM_TEXT.fullmatch(text):
        size = len(text) + len(EXTENSION.findall(text))
        return True, 1 if size <= 160 else -(-size // 153)
    size = len(text.encode("utf-16-le")) // 2
    return False, 1 if size <= 70 else -(-size // 67)


def run(data: bytes, region: str = "GB") -> tuple[int, int, int, int]:
    """(rows, valid numbers, 16-bit messages, parts) of one file."""
    phonenumbers.enable_pattern_cache()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader)  # the header
    rows = valid = sixteen = total_parts = 0
    for row in reader:
        rows += 1
        if len(row) < 2:
            continue
        try:
            number = phonenumbers.parse(row[0], region)
        except NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        phonenumbers.format_number(number, PhoneNumberFormat.E164)
        valid += 1
        seven_bit, count = parts(row[1])
        sixteen += not seven_bit
        total_parts += count
    return rows, valid, sixteen, total_parts


def main(argv: list[str]) -> int:
    """Read the file named in argv and print its counts."""
    rows, valid, sixteen, total_parts = run(Path(argv[0]).read_bytes())
    print(f"rows {rows} valid {valid} 16-bit {sixteen} parts {total_parts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
