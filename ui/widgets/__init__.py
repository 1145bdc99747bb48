"""Reusable widgets of the wizard: text, fact tables, certificate review, QR code."""
