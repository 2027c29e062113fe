"""Process stage: dedupe, classification, severity and the review queue."""
