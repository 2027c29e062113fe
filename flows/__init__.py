"""Prefect flows: thin compositions of tasks; the deployments' entrypoints."""
