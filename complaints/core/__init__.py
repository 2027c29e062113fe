"""Shared ground of every stage: settings, configuration, database, models, personal data, text."""
