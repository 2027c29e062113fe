"""Personal data: find phone, ID-card, bank-card numbers and emails in text; mask them; hash contacts.

Masked copies are what logs, artifacts, exports and reports show. The keyed hash of a contact
lets dedupe match the same person across channels without storing the value in clear there.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import unicodedata

EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# Mainland mobile numbers, optionally with +86 / 0086 and separators.
PHONE_RE = re.compile(r"(?<!\d)(?:(?:\+|00)86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
ID_RE = re.compile(r"(?<![\dA-Za-z])(\d{17}[\dXx])(?![\dA-Za-z])")
CARD_RE = re.compile(r"(?<!\d)(\d(?:[ -]?\d){12,18})(?!\d)")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_id_number(value: str) -> bool:
    """Mainland 18-digit resident ID: the last character is a checksum of the first 17."""
    if not re.fullmatch(r"\d{17}[\dXx]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_ok(digits: str) -> bool:
    """True when the digits pass the Luhn check, as bank-card numbers do."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_email(m: re.Match[str]) -> str:
    local, domain = m.group(1), m.group(2)
    return f"{local[0]}***@{domain}"


def _mask_id(m: re.Match[str]) -> str:
    v = m.group(1)
    return f"{v[:3]}{'*' * 11}{v[-4:]}" if valid_id_number(v) else v


def _mask_card(m: re.Match[str]) -> str:
    raw = m.group(1)
    digits = re.sub(r"\D", "", raw)
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return f"{digits[:4]} **** **** {digits[-4:]}"
    return raw


def mask_text(text: str | None) -> str:
    """Mask every email, ID-card, bank-card and mobile number in free text."""
    if not text:
        return text or ""
    text = EMAIL_RE.sub(_mask_email, text)
    text = ID_RE.sub(_mask_id, text)
    # Phones before cards: a formatted mobile number must not be read as a card number.
    text = PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return CARD_RE.sub(_mask_card, text)


def find_pii(text: str) -> dict[str, int]:
    """Counts of each kind of personal data found in text."""
    return {
        "email": len(EMAIL_RE.findall(text)),
        "phone": len(PHONE_RE.findall(text)),
        "id_number": sum(valid_id_number(v) for v in ID_RE.findall(text)),
        "bank_card": sum(
            luhn_ok(d) for d in (re.sub(r"\D", "", v) for v in CARD_RE.findall(text)) if 13 <= len(d) <= 19
        ),
    }


def normalise_contact(value: str) -> str | None:
    """Canonical form of an email address or a phone number, or None if it is neither."""
    value = unicodedata.normalize("NFKC", value).strip()
    if EMAIL_RE.fullmatch(value):
        return value.lower()
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if len(digits) >= 7 else None


def contact_key(value: str | None, secret: str) -> str | None:
    """Keyed hash of a normalised contact: matches a person across channels, reveals nothing."""
    if not value:
        return None
    norm = normalise_contact(value)
    if norm is None:
        return None
    return hmac.new(secret.encode(), norm.encode(), hashlib.sha256).hexdigest()[:32]


def is_email(value: str | None) -> bool:
    """True when the value, stripped, is a whole email address."""
    return bool(value) and EMAIL_RE.fullmatch(value.strip()) is not None  # type: ignore[union-attr]


class MaskingFilter(logging.Filter):
    """Logging filter that masks personal data in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking(*logger_names: str) -> None:
    """Attach the masking filter to the handlers of the given loggers (root by default)."""
    names = logger_names or ("",)
    filt = MaskingFilter()
    for name in names:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(filt)
