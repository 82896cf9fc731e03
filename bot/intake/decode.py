"""Upload bytes to text: refuse what is not a text file, then find the encoding.

Order (eapi-research.md 4.3): a byte-order mark (UTF-8, UTF-16 LE/BE); else strict UTF-8; else
UTF-16 without a BOM when most of every other byte is NUL (Excel's "Unicode Text", BOM cut off);
else Windows-1252 (Excel's "CSV" on Western European Windows). Detectors such as chardet are not
used: on short files they guess wrong (cp775 for German text).

Before decoding, the first bytes are checked for the files people upload by mistake: Slack's
login page (an HTML page instead of the file), images, PDFs and ZIP archives. Workbooks
(xlsx, xls, ods) never get here: `bot.intake.spreadsheet` reads them; a damaged one (a ZIP
that cannot be opened) is refused here. Each is refused with an `IntakeError` that says what
to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import IntakeError

XLSX_HINT = "save it as CSV from Excel: File > Save As > CSV UTF-8"

# (magic bytes, what the file is and what to do); checked in order at the start of the file.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image, not a CSV file"),
    (b"GIF87a", "a GIF image, not a CSV file"),
    (b"GIF89a", "a GIF image, not a CSV file"),
    (b"\xff\xd8\xff", "a JPEG image, not a CSV file"),
    (b"%PDF-", "a PDF document, not a CSV file"),
    (b"\x1f\x8b", "a gzip archive; upload the CSV file itself"),
    (b"{\\rtf", "a rich-text (RTF) document; save the data as CSV UTF-8"),
)
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<?xml", "<!--")
HTML_REASON = (
    "looks like an HTML page — perhaps Slack's login page; the download was not authorised"
)
# Text files hold almost no C0 control characters; binary ones hold many.
_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r", "\f", "\v"}
_SAMPLE = 4096


@dataclass(frozen=True, slots=True)
class Decoded:
    """The upload as text, and the name of the encoding it was read with."""

    text: str
    encoding: str  # "utf-8-sig", "utf-16", "utf-8", "utf-16-le", "utf-16-be" or "cp1252"


def refuse_non_text(data: bytes) -> None:
    """Raise IntakeError when the bytes are empty, binary, a document, an archive or HTML."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise IntakeError("the file is empty: it has no rows to read")
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            raise IntakeError(f"this is {what}")
    if data.startswith(b"PK\x03\x04"):
        if b"xl/" in data[: _SAMPLE * 4] or b"[Content_Types].xml" in data[: _SAMPLE * 4]:
            raise IntakeError(
                f"this looks like an Excel workbook (.xlsx) but it is damaged and cannot be "
                f"opened; save it again, or {XLSX_HINT}"
            )
        raise IntakeError("this is a ZIP archive, not a CSV file; upload the CSV file itself")
    head = data[:_SAMPLE].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(tuple(s.encode() for s in _HTML_STARTS)) or (
        head.startswith(b"<") and b"<html" in head
    ):
        raise IntakeError(HTML_REASON)


def decode_upload(data: bytes) -> Decoded:
    """Decode upload bytes to text (module doc), or raise IntakeError naming the problem."""
    refuse_non_text(data)
    decoded = _decode(data)
    text = decoded.text.removeprefix("\ufeff")
    if "\x00" in text:
        raise IntakeError(
            f"the file contains NUL bytes (line {_line_of(text, text.index(chr(0)))}); "
            "it is not a CSV text file — save it as CSV UTF-8"
        )
    refuse_binary_text(text)
    if not text or text.isspace():  # no .strip(): it would copy a large file
        raise IntakeError("the file is empty: it has no rows to read")
    if text[:_SAMPLE].lstrip().lower().startswith(_HTML_STARTS):  # e.g. a UTF-16 HTML page
        raise IntakeError(HTML_REASON)
    return Decoded(text=text, encoding=decoded.encoding)


def _decode(data: bytes) -> Decoded:
    if data.startswith(b"\xef\xbb\xbf"):
        return Decoded(_strict(data, "utf-8-sig", "UTF-8"), "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        if data.startswith(b"\xff\xfe\x00\x00"):
            raise IntakeError("the file is UTF-32, which is not supported; save it as CSV UTF-8")
        return Decoded(_strict(data, "utf-16", "UTF-16"), "utf-16")
    bomless = _bomless_utf16(data)  # before UTF-8: ASCII in UTF-16 is valid UTF-8 with NULs
    if bomless is not None:
        return Decoded(_strict(data, bomless, "UTF-16"), bomless)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return Decoded(data.decode("cp1252"), "cp1252")
    except UnicodeDecodeError as exc:
        # cp1252 leaves five bytes undefined; text files from Excel never contain them.
        raise IntakeError(
            f"the file is neither UTF-8 nor Windows-1252 text (byte 0x{data[exc.start]:02X} at "
            f"offset {exc.start}); it may be a binary file — save it as CSV UTF-8"
        ) from exc


def _strict(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f"the file says it is {name} but byte {exc.start} is not valid {name}; "
            "save it again as CSV UTF-8"
        ) from exc


def _bomless_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'-be' when one byte of each pair is mostly NUL and the other never is.

    Text in UTF-16 is mostly Latin letters, digits and punctuation, whose high byte is NUL.
    """
    sample = data[: _SAMPLE - _SAMPLE % 2]
    pairs = len(sample) // 2
    if pairs < 2 or len(data) % 2:
        return None
    even_nul, odd_nul = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nul * 2 >= pairs and even_nul * 100 <= pairs:
        return "utf-16-le"
    if even_nul * 2 >= pairs and odd_nul * 100 <= pairs:
        return "utf-16-be"
    return None


def refuse_binary_text(text: str) -> None:
    """Raise IntakeError when the text's start is full of control characters (a binary file)."""
    sample = text[:_SAMPLE]
    controls = sum(1 for c in sample if c in _CONTROL)
    if controls >= 3 and controls * 100 > len(sample):
        raise IntakeError(
            f"the file holds {controls} control characters in its first {len(sample)}; it looks "
            "like a binary file, not CSV text — save it as CSV UTF-8"
        )


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1
