"""Tray Agent: one desktop inbox for customer conversations on every messaging channel."""

__version__ = "0.1.0"
