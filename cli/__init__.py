"""The `complaints` command line (typer): run flows, backfill, inspect, export."""
