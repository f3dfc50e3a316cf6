"""The OpenAPI document, and a guard that every operation of the service layer is
reachable over HTTP (or says why it is not)."""

from __future__ import annotations

import inspect

from tray_agent.core.service import Inbox

EXPOSED = {
    "list_inbox": ("get", "/api/inbox"),
    "unread_summary": ("get", "/api/inbox/unread"),
    "get_conversation": ("get", "/api/conversations/{conversation_id}"),
    "history": ("get", "/api/conversations/{conversation_id}/messages"),
    "search": ("get", "/api/search"),
    "events_since": ("get", "/api/events"),
    "last_seq": ("get", "/api/session"),
    "get_agent": ("get", "/api/session"),
    "reply": ("post", "/api/conversations/{conversation_id}/messages"),
    "start_conversation": ("post", "/api/conversations"),
    "retry": ("post", "/api/messages/{message_id}/retry"),
    "claim": ("post", "/api/conversations/{conversation_id}/claim"),
    "transfer": ("post", "/api/conversations/{conversation_id}/transfer"),
    "archive": ("post", "/api/conversations/{conversation_id}/archive"),
    "unarchive": ("post", "/api/conversations/{conversation_id}/unarchive"),
    "close": ("post", "/api/conversations/{conversation_id}/close"),
    "reopen": ("post", "/api/conversations/{conversation_id}/reopen"),
    "mark_read": ("post", "/api/conversations/{conversation_id}/read"),
    "mark_unread": ("post", "/api/conversations/{conversation_id}/unread"),
    "elevate_to_call": ("post", "/api/conversations/{conversation_id}/call"),
    "call_plan": ("get", "/api/conversations/{conversation_id}/call"),
    "save_contact": ("post", "/api/conversations/{conversation_id}/contact"),
    "list_contacts": ("get", "/api/contacts"),
    "attachment_file": ("get", "/api/attachments/{attachment_id}"),
    "list_channels": ("get", "/api/channels"),
    "get_channel": ("get", "/api/channels/{channel_id}"),
    "add_channel": ("post", "/api/channels"),
    "update_channel": ("patch", "/api/channels/{channel_id}"),
    "remove_channel": ("delete", "/api/channels/{channel_id}"),
    "list_agents": ("get", "/api/agents"),
    "add_agent": ("post", "/api/agents"),
    "list_queues": ("get", "/api/queues"),
    "add_queue": ("post", "/api/queues"),
    "set_queue_members": ("put", "/api/queues/{queue_id}/members"),
    "get_settings": ("get", "/api/settings"),
    "update_settings": ("patch", "/api/settings"),
    "touch_agent": ("get", "/api/events/stream"),  # presence while a window is connected
}
#: Not agent operations: who calls them instead.
INTERNAL = {
    "receive": "channel adapters, through their signed /webhooks/",
    "receive_batch": "imports and benchmarks",
    "glance": "the notification engine, wording a pop-up (desktop/notification_engine.py)",
    "receive_batches": "the runtime's group commit of webhooks, across channels",
    "update_status": "channel adapters' status callbacks",
    "set_channel_health": "the runtime's health checks",
    "close_idle": "the runtime's sweep",
    "expire_files": "the runtime's sweep",
    "expire_early_statuses": "the runtime's sweep",
    "ensure_agent": "the desktop's start-up",
    "set_agent_extension": "an administrator, with `tray-agent agent extension`",
    "record_task": "the supervisor, when a background task fails or recovers",
    "task_statuses": "doctor (GET /api/tasks reads the running supervisor itself)",
    # The team server's own surface (tests/server/test_server_sync.py covers them).
    "snapshot": "the team server's GET /sync/v1/snapshot",
    "snapshot_json": "the team server's GET /sync/v1/snapshot (its JSON built by PostgreSQL)",
    "events_for": "the team server's GET /sync/v1/events",
    "event_bounds": "the team server's cursor checks",
    "events_tail": "the team server's one reader of the log per replica",
    "agent_scope": "the team server's per-agent event filter",
    "set_pickup_mode": "the team server's console (tray-agent server queue pickup)",
    "set_queue_policy": "the team server's console (tray-agent server queue set)",
    "set_agent_role": "the team server's admin API and console (server agent role)",
    "set_status": "the team server's PUT /sync/v1/me/status (a desktop's do-not-disturb)",
    "device_seen": "the team server's authentication: each request is its device's heartbeat",
    "mark_absent": "the team server's sweep",
    "prune_events": "the team server's sweep (the event log's retention)",
    "requeue_unanswered": "the team server's sweep",
    "assign_waiting": "the team server's sweep, and after commits that may free a member",
    "fetch": "the team server's POST /sync/v1/fetch",
    "record_call": "the team server's POST /sync/v1/conversations/{id}/call (a call a desktop placed)",
    "place_call": "elevate_to_call's dialling half; a team desktop's too (the server records the call)",
    # A team desktop's cache (core/mirror.py): written by its sync task and upstream sender.
    **{name: "a team desktop's sync task and sender (tests/team/)" for name in (
        "team_state", "set_team_state", "mirror_ids", "mirror_directory", "mirror_conversations", "mirror_remove",
        "mirror_sweep", "queue_action", "pending_actions", "pending_count", "action_tried", "action_done",
        "confirm_key", "action_refused", "note_connection", "attachment_state", "attach_fetched",
        "queued_files", "requeue_echo", "queue_start", "forget_action", "queue_system_row")},
}


def test_the_openapi_document_is_served_and_lists_the_endpoints(client):
    doc = client.get("/api/openapi.json").json()
    assert doc["info"]["title"] == "Tray Agent"
    assert "/api/events/stream" in doc["paths"] and "/api/uploads" in doc["paths"]
    reply = doc["paths"]["/api/conversations/{conversation_id}/messages"]["post"]
    assert reply["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/MessageView")


def test_every_service_operation_is_reachable_over_http(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    public = {n for n, f in inspect.getmembers(Inbox, inspect.isfunction) if not n.startswith("_")}
    operations = {n for n in public if not n.startswith("outbox_")}  # the outbox worker's own steps
    missing = operations - set(EXPOSED) - set(INTERNAL)
    assert not missing, f"service operations with no endpoint: {sorted(missing)}"
    for name, (method, path) in EXPOSED.items():
        assert method in paths.get(path, {}), f"{name}: {method.upper()} {path} is not in the API"
