"""Team mode: the desktop as a client of a team server. It signs in (``connect``), mirrors
what its agent may see into a local cache (``sync``), and sends the agent's actions
upstream, queueing replies while offline (``upstream``)."""
