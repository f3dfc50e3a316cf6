"""Running the agent: the ``Runner`` (runner.py) that starts and stops everything in one
order, the channel runtime it starts (runtime.py: adapters, outbox, pollers, sweeps), the
inbound group commit, the change watch and the channel set-up from the config file.

Import ``tray_agent.run.runner.Runner``; this package imports nothing itself, so the App
(which uses none of it) and the parts here import each other's modules without a cycle.
"""
