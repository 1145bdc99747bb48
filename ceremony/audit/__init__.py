"""Hash-chained event logs, transcripts, and the auditor's verification."""

from ceremony.audit.offline import without_network_clients

without_network_clients()  # before any module of this package imports pyHanko
