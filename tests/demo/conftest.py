"""Fixtures for the demo's tests: labs over real SSH (see lab/testing.py)."""

from lab.testing import make_lab

__all__ = ["make_lab"]
