"""The team server: ``tray-agent server`` on PostgreSQL, holding the channels and the canonical
inbox, with agents' devices, the audit log and the sync API that desktops follow.
"""
