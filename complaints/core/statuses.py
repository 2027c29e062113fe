"""Closed vocabularies of the lifecycles: incident, plan, step, message and clock statuses and kinds.

StrEnums, so a member equals the string the database stores ("open" == IncidentStatus.open) and rows
written before these types existed read back unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    open = "open"
    investigating = "investigating"
    remediating = "remediating"
    resolved = "resolved"
    closed = "closed"


# New complaints join an incident while it is active.
INCIDENT_ACTIVE = (IncidentStatus.open, IncidentStatus.investigating, IncidentStatus.remediating)
INCIDENT_RESOLVED = (IncidentStatus.resolved, IncidentStatus.closed)


class PlanStatus(StrEnum):
    open = "open"
    closed = "closed"


class StepStatus(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    done = "done"
    skipped = "skipped"
    cancelled = "cancelled"


STEP_OPEN = (StepStatus.pending, StepStatus.in_progress)
STEP_FINISHED = (StepStatus.done, StepStatus.skipped, StepStatus.cancelled)


class StepKind(StrEnum):
    task = "task"
    feedback = "feedback"
    callback = "callback"
    lessons_learned = "lessons_learned"


class MessageStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    suppressed = "suppressed"


class MessageKind(StrEnum):
    acknowledgement = "acknowledgement"
    progress = "progress"
    extension = "extension"
    resolution = "resolution"
    callback = "callback"
    escalation = "escalation"
    report = "report"


class ClockStatus(StrEnum):
    running = "running"
    extended = "extended"
    met = "met"
    breached = "breached"
    lapsed = "lapsed"


CLOCK_RUNNING = (ClockStatus.running, ClockStatus.extended)


class AttachmentStatus(StrEnum):
    stored = "stored"
    rejected = "rejected"


class AttachmentRejection(StrEnum):
    """Why a file that came with a complaint was not stored (sources.yaml `attachments`)."""

    type = "type"  # its content (sniffed) is not an allowed type
    size = "size"  # empty, over the per-file limit, or over the complaint's total
    count = "count"  # more files than a complaint may have
    unreadable = "unreadable"  # its encoding could not be decoded


class TransactionType(StrEnum):
    """A transaction of a transaction feed (sources.yaml kind: transactions)."""

    transfer = "transfer"
    withdrawal = "withdrawal"
    payment = "payment"
    other = "other"


class TransactionStatus(StrEnum):
    succeeded = "succeeded"
    failed = "failed"
    pending = "pending"
    other = "other"


class TransactionRule(StrEnum):
    """Why a transaction gets a satisfaction call-back (notifications.yaml callbacks.transactions)."""

    large_transfer = "large_transfer"  # a transfer of at least the currency's threshold
    first_withdrawal = "first_withdrawal"  # the person's first withdrawal
    failed_payment = "failed_payment"
