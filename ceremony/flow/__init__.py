"""Ceremony state machines: steps, commit points, resume from the event log."""
