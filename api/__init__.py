"""The read-only REST export (DRF): hosts, findings, rollouts and their history, as JSON or CSV."""
