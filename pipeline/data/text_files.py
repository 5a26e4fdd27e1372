"""What a text table file is before it is parsed: its encoding, its delimiter, or what else it is.

A CSV file written by Excel on Windows is cp1252, one from PowerShell UTF-16, one from a
Mac UTF-8 with a byte-order mark. Each is decoded by what its bytes say, or refused with the
encoding named; it is never read with replaced characters, which would make two classes of
one and change values without a word.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from pipeline.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 65536  # the delimiter is judged on the first records in this many characters
SNIFF_RECORDS = 50
# bytes that cp1252 leaves undefined: a file holding one is neither cp1252 nor text in latin-1
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_SAVE_AS_UTF8 = "save the file as UTF-8 (e.g. `iconv -f <its encoding> -t UTF-8 in.csv > out.csv`, or "
_SAVE_AS_UTF8 += "'CSV UTF-8' in Excel's Save As)"


@dataclass(frozen=True)
class Decoded:
    """A text file's characters and the encoding they were read with (for the note)."""

    text: str
    encoding: str  # "UTF-8", "UTF-8 with BOM", "UTF-16", "cp1252", "latin-1"

    @property
    def noted(self) -> bool:
        """Whether reading it so is a decision the user should hear about (plain UTF-8 is not)."""
        return self.encoding not in ("UTF-8", "UTF-8 with BOM")


def decode(raw: bytes, shown: str) -> Decoded:
    """`raw` as text: UTF-8 (with or without BOM), UTF-16 (BOM, or NUL bytes in one half), or
    latin-1/cp1252 when it is not UTF-8 at all; DataError naming the encoding otherwise."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise DataError(f"{shown!r} is UTF-32 text", _SAVE_AS_UTF8)
    if raw.startswith(codecs.BOM_UTF8):
        return Decoded(_strict(raw, "utf-8-sig", shown, "starts with a UTF-8 byte-order mark but"), "UTF-8 with BOM")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Decoded(_strict(raw, "utf-16", shown, "starts with a UTF-16 byte-order mark but"), "UTF-16")
    if b"\x00" in raw[:4096]:
        head = raw[:4096]
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) >= len(head) // 4 and min(even, odd) == 0:  # ASCII text in UTF-16 without a BOM
            codec = "utf-16-be" if even else "utf-16-le"
            return Decoded(_strict(raw, codec, shown, "looks like UTF-16 but"), "UTF-16")
        raise DataError(
            f"{shown!r} holds NUL bytes: it is a binary file, not a text table",
            "give a CSV file (text, UTF-8) or a Parquet file",
        )
    try:
        return Decoded(raw.decode("utf-8"), "UTF-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    loose = raw.decode("utf-8", errors="replace")
    if any(ord(c) > 0x7F and c != "\ufffd" for c in loose):  # real UTF-8 letters beside bytes that are not
        raise DataError(
            f"{shown!r} mixes UTF-8 text with bytes that are not UTF-8 ({_where(raw, bad)})",
            "the file was put together from files in different encodings; " + _SAVE_AS_UTF8,
        )
    undefined = next((i for i, b in enumerate(raw) if b in _CP1252_UNDEFINED), None)
    if undefined is not None:
        raise DataError(
            f"{shown!r} is not UTF-8, UTF-16 or latin-1/cp1252 text ({_where(raw, undefined)})",
            _SAVE_AS_UTF8,
        )
    cp1252 = any(0x80 <= b <= 0x9F for b in raw)  # euro sign, curly quotes: cp1252; else both read alike
    return Decoded(raw.decode("cp1252" if cp1252 else "latin-1"), "cp1252" if cp1252 else "latin-1")


def _strict(raw: bytes, codec: str, shown: str, said: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown!r} {said} is not valid {codec} ({_where(raw, exc.start)})", _SAVE_AS_UTF8) from None


def _where(raw: bytes, offset: int) -> str:
    line = raw[:offset].count(b"\n") + 1
    return f"byte 0x{raw[offset]:02x} on line {line}"


@dataclass(frozen=True)
class Delimiter:
    """The delimiter a text table uses, and whether every record it was judged on agreed."""

    char: str
    consistent: bool  # every sniffed record has the header's number of fields (> 1)


def sniff_delimiter(text: str) -> Delimiter:
    """The delimiter that splits the first records into the same number of fields, more than
    one, read as CSV reads them: a delimiter inside quotes ("Smith, J.") does not count. Of
    several, the one giving the most fields. With none consistent, the one that splits the
    header most (`,` when none does): the parser then names the line that disagrees."""
    head = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in head:  # the last record may be cut in the middle
        head = head[: head.rindex("\n")]
    counts: dict[str, list[int]] = {}
    for char in DELIMITERS:
        try:
            rows = csv.reader(io.StringIO(head), delimiter=char, quotechar='"')
            counts[char] = [len(r) for r, _ in zip((r for r in rows if r), range(SNIFF_RECORDS))]
        except csv.Error:  # a field longer than csv's limit, a NUL: not this delimiter's doing
            counts[char] = []
    consistent = [c for c in DELIMITERS if counts[c] and counts[c][0] > 1 and len(set(counts[c])) == 1]
    if consistent:
        return Delimiter(max(consistent, key=lambda c: counts[c][0]), True)
    split = [c for c in DELIMITERS if counts[c] and counts[c][0] > 1]
    return Delimiter(max(split, key=lambda c: counts[c][0]) if split else ",", False)


def header_names(text: str, delimiter: str) -> list[str]:
    """The first record's fields, quotes respected."""
    for row in csv.reader(io.StringIO(text[:SNIFF_CHARS]), delimiter=delimiter, quotechar='"'):
        if row:
            return row
    return []


_KINDS = (
    (re.compile(rb"^PK\x03\x04"), "a zip archive (an Excel .xlsx workbook is one)", "save the sheet as CSV UTF-8"),
    (re.compile(rb"^\xd0\xcf\x11\xe0"), "an old Excel (.xls) or Office file", "save the sheet as CSV UTF-8"),
    (re.compile(rb"^\s*[\[{]"), "JSON, not a table", "convert it, e.g. pandas.read_json(path).to_parquet(...)"),
    (re.compile(rb"^\x1f\x8b"), "gzip-compressed", "name it .csv.gz (or unpack it)"),
)


def other_kind(raw: bytes) -> tuple[str, str] | None:
    """(what the file is, the fix) for a file that is plainly not a text table, else None."""
    for pattern, kind, fix in _KINDS:
        if pattern.match(raw[:64]):
            return kind, fix
    return None
