"""Offline root CA key ceremonies: headless core (no Qt)."""

__version__ = "0.1.0"
