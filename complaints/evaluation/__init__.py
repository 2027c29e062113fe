"""Offline evaluation of the judgement stages; never imported by the pipeline."""
