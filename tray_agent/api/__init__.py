"""The local HTTP API: REST for every inbox operation, the live event stream, the web UI,
and the webhooks channel providers call."""
