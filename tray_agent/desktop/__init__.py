"""The desktop shell: the tray icon with its unread badge, native notifications, and the
chat window that runs on demand in its own process.

Nothing here is imported by the core; GUI toolkits are imported lazily, so the daemon runs
(headless) where there is no display, tray host or notification server.
"""
