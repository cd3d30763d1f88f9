"""What tap-jobsync and target-jobsync share: HTTP policy, rate limits, redaction, errors."""
