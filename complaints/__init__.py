"""Wallet complaint operations: the domain package (no Prefect imports)."""
