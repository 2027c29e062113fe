"""Text encoding of channel exports: detect it, then decode line by line so damage stays local."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator
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
# Encoding detection looks at this much of a file, so a large export is never read whole for it.
SAMPLE_BYTES = 1 << 20


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


def sample(head: bytes, at_eof: bool) -> bytes:
    """The start of a file cut after its last complete line, so no character is split at the cut."""
    if at_eof:
        return head
    cut = head.rfind(b"\n")
    return head[: cut + 1] if cut >= 0 else head


def line_by_line(encoding: str) -> bool:
    """Whether `encoding` can decode a file one physical line at a time (and so resume mid-file)."""
    name = codecs.lookup(encoding).name.replace("-", "_")
    return not name.startswith(_WHOLE_FILE_CODECS) and "\n".encode(encoding) == b"\n"


def _line_codec(encoding: str) -> str:
    # A UTF-8 BOM is dropped, never content, whether or not the encoding was declared with -sig.
    name = codecs.lookup(encoding).name.replace("-", "_")
    return "utf-8-sig" if name in ("utf_8", "utf_8_sig") else encoding


def decode_chunks(chunks: Iterable[bytes], encoding: str) -> Iterator[tuple[bytes, Line]]:
    """Split byte chunks into physical lines as open(newline="") would (\\n, \\r\\n, \\r), decoding each.

    Each chunk must end at a line end (a binary file's iteration does). A line with bytes invalid in
    `encoding` is decoded with U+FFFD replacements and flagged, so one bad byte costs one record.
    """
    codec = _line_codec(encoding)
    for chunk in chunks:
        for part in chunk.splitlines(keepends=True):
            try:
                yield part, Line(part.decode(codec))
            except UnicodeDecodeError:
                yield part, Line(part.decode(codec, errors="replace"), damaged=True)


def decode_whole(raw: bytes, encoding: str) -> list[Line]:
    """Decode a file in a stateful codec (UTF-16, ...) at once; any damage flags every line."""
    try:
        text, damaged = raw.decode(encoding), False
    except UnicodeDecodeError:
        text, damaged = raw.decode(encoding, errors="replace"), True
    return [Line(part, damaged) for part in io.StringIO(text, newline="")]


def decode_lines(raw: bytes, encoding: str) -> list[Line]:
    """All physical lines of `raw` decoded (line by line where the codec allows)."""
    if not line_by_line(encoding):
        return decode_whole(raw, encoding)
    return [line for _, line in decode_chunks([raw], encoding)]
