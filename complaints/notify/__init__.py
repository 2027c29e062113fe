"""Notify stage: the outbox, acknowledgements, updates, call-backs, user policy and channels."""
