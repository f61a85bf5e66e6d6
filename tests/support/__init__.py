"""Helpers shared by the repo-level test tiers (importable as ``tests.support``)."""
