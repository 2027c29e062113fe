"""Detect stage: problem signatures, baselines, the replay that finds collective complaints, incidents."""
