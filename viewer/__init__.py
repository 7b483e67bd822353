"""Strata: look inside trained neural nets converted to plain numpy."""

__version__ = "0.1.0"
