"""Regulatory obligations: statutory clocks, major events, outcomes, returns, retention, erasure."""
