"""Tests of the online issuing CA (ceremony.online)."""
