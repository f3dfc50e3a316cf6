"""Telegram channel for Tray Agent."""

__version__ = "0.1.0"
