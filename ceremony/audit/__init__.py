"""Hash-chained event logs, transcripts, and the auditor's verification."""
