"""Text encoding of channel exports: detect it, then decode line by line so damage stays local."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass

import charset_normalizer

# Chinese call-centre and bank exports that are not UTF-8 are GBK; GB18030 is its strict superset.
_PREFERRED = ("utf-8", "gb18030")
# A file this close to decoding cleanly (damaged bytes per non-ASCII byte) is that encoding with a
# few bad bytes; asking charset-normalizer instead would turn the whole file into mojibake.
_NEAR_MISS = 0.01
# Stateful codecs (and those where "\n" is not the byte 0x0A) cannot be decoded a line at a time.
_WHOLE_FILE_CODECS = ("utf_16", "utf_32", "utf_7", "iso2022", "hz")
_ASCII = bytes(range(128))


@dataclass(frozen=True)
class Line:
    """One physical line of a file, line ending kept; damaged if some bytes would not decode."""

    text: str
    damaged: bool = False


def detect_encoding(raw: bytes) -> str:
    """UTF-8 (with or without BOM), then GB18030, then charset-normalizer's guess.

    Strict trial decoding comes first because charset-normalizer alone misreads short Chinese
    files (a two-line GBK export can come back as a Cyrillic code page).
    """
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in _PREFERRED:
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    damage = {enc: raw.decode(enc, errors="replace").count("\ufffd") for enc in _PREFERRED}
    closest = min(_PREFERRED, key=damage.__getitem__)
    non_ascii = len(raw.translate(None, _ASCII))
    if damage[closest] <= _NEAR_MISS * non_ascii:
        return closest
    guess = charset_normalizer.from_bytes(raw).best()
    return guess.encoding if guess is not None else closest


def decode_lines(raw: bytes, encoding: str) -> list[Line]:
    """Split into physical lines as open(newline="") would (\\n, \\r\\n, \\r) and decode each one.

    A line with bytes invalid in `encoding` is decoded with U+FFFD replacements and flagged, so
    one bad byte costs one record rather than the file. A UTF-8 BOM is dropped, never content.
    """
    name = codecs.lookup(encoding).name.replace("-", "_")
    if name in ("utf_8", "utf_8_sig"):
        raw, encoding = raw.removeprefix(codecs.BOM_UTF8), "utf-8"
    elif name.startswith(_WHOLE_FILE_CODECS) or "\n".encode(encoding) != b"\n":
        try:
            text, damaged = raw.decode(encoding), False
        except UnicodeDecodeError:
            text, damaged = raw.decode(encoding, errors="replace"), True
        return [Line(part, damaged) for part in io.StringIO(text, newline="")]
    lines: list[Line] = []
    for chunk in raw.splitlines(keepends=True):
        try:
            lines.append(Line(chunk.decode(encoding)))
        except UnicodeDecodeError:
            lines.append(Line(chunk.decode(encoding, errors="replace"), damaged=True))
    return lines
