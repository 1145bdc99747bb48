"""Removable media and safe file output."""
