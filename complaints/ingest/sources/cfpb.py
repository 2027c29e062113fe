"""Preset for the public US CFPB consumer-complaint database export (its CSV column layout)."""

from __future__ import annotations

from typing import TypeVar

from complaints.core.config import SourceBase

S = TypeVar("S", bound=SourceBase)

CFPB_COLUMNS = (
    "Date received",
    "Product",
    "Sub-product",
    "Issue",
    "Sub-issue",
    "Consumer complaint narrative",
    "Company public response",
    "Company",
    "State",
    "ZIP code",
    "Tags",
    "Consumer consent provided?",
    "Submitted via",
    "Date sent to company",
    "Company response to consumer",
    "Timely response?",
    "Consumer disputed?",
    "Complaint ID",
)

# Most CFPB complaints have no published narrative; the issue is then the best body there is.
# `Company` is the firm complained about (for a wallet's own regulator referrals: the wallet itself), not a merchant
# the consumer paid: it stays in the raw row (Complaint.raw["Company"]) and is no detection entity.
CFPB_MAPPING: dict[str, str] = {
    "external_id": "Complaint ID",
    "received_at": "Date received",
    "body": "Consumer complaint narrative|Issue",
    "title": "Issue",
    "product": "Product",
    "region": "State",
}
CFPB_DATE_FORMAT = "%Y-%m-%d"


def preset_spec(spec: S) -> S:
    """A kind="cfpb" spec with the CFPB mapping and date format filled in; the spec's own entries win.

    Other kinds come back unchanged, so callers can apply this to every source.
    """
    if spec.kind != "cfpb":
        return spec
    return spec.model_copy(
        update={
            "mapping": {**CFPB_MAPPING, **getattr(spec, "mapping", {})},
            "date_format": spec.date_format or CFPB_DATE_FORMAT,
        }
    )
