"""Prefect tasks: each wraps one stage of complaints/ at batch granularity."""
