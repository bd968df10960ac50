"""Keepgate: account access for a digital-asset exchange."""

__version__ = "0.1.0"
