"""Severity (minor / major / critical) from YAML rules; every decision keeps its reasons."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from complaints.core.config import SEVERITIES, SeverityRules
from complaints.core.normalize import fold, keyword_pattern


@lru_cache(maxsize=32)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    return keyword_pattern(words)


def _matches(words: list[str], folded: str) -> list[str]:
    pattern = _pattern(tuple(words))
    return list(dict.fromkeys(pattern.findall(folded))) if pattern else []


def assess(
    rules: SeverityRules,
    *,
    text: str,
    category: str,
    channel: str,
    amount: Decimal | None,
    repeat_count: int = 0,
) -> tuple[str, list[str]]:
    """Return (severity, reasons). Reasons are short phrases shown to ops and in reports;
    those about threats to go to the media, a court or a regulator start with "threat"."""
    found: list[tuple[str, str]] = []
    if amount is not None and amount >= Decimal(str(rules.critical_amount)):
        found.append(("critical", f"amount {amount} >= {rules.critical_amount:g}"))
    elif amount is not None and amount >= Decimal(str(rules.major_amount)):
        found.append(("major", f"amount {amount} >= {rules.major_amount:g}"))
    if category in rules.critical_categories:
        found.append(("critical", f"category {category}"))
    if channel in rules.regulator_channels:
        found.append(("major", f"regulator-referred ({channel})"))
    folded = fold(text).lower()
    threats = _matches(rules.escalation_words, folded)
    if threats:
        found.append(("major", f"threat to escalate: {', '.join(threats[:3])}"))
    vulnerable = _matches(rules.vulnerable_words, folded)
    if vulnerable:
        found.append(("major", f"vulnerable user: {', '.join(vulnerable[:3])}"))
    if repeat_count >= 2:
        found.append(("major", f"repeat complaint ({repeat_count} submissions)"))
    if not found:
        return "minor", []
    level = max(SEVERITIES.index(s) for s, _ in found)
    return SEVERITIES[level], [reason for _, reason in found]
