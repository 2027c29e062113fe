"""Ingest stage: connectors read channels, records are mapped and stored or quarantined."""
