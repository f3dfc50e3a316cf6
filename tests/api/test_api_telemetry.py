"""Customers' words do not leave through FastAPI's built-in OpenTelemetry: with a global
tracer provider set in the agent's process (as a plugin or an instrumentation wrapper
could), requests — a reply whose text is refused included — start no span."""

from __future__ import annotations

from typing import Any

import pytest

otel_trace = pytest.importorskip("opentelemetry.trace")  # FastAPI without telemetry: nothing to switch off


class RecordingTracer(otel_trace.NoOpTracer):  # type: ignore[misc,name-defined]  # the API's own no-op, counted
    def __init__(self, spans: list[str]) -> None:
        self.spans = spans

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.spans.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.spans.append(name)
        return super().start_as_current_span(name, *args, **kwargs)


class RecordingProvider(otel_trace.TracerProvider):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        self.spans: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return RecordingTracer(self.spans)


def test_no_request_starts_a_span_even_with_a_global_tracer_provider(agent, client, monkeypatch) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(otel_trace, "_TRACER_PROVIDER", provider)  # what set_tracer_provider sets, undone after
    assert otel_trace.get_tracer_provider() is provider
    agent.inbound(agent.sms, "+14155550199", "My card number is 4111 1111 1111 1111")
    inbox = client.get("/api/inbox")
    assert inbox.status_code == 200
    conv = next(c["id"] for c in inbox.json()["items"] if c["customer_address"] == "+14155550199")
    assert client.get(f"/api/conversations/{conv}/messages").status_code == 200
    r = client.post(f"/api/conversations/{conv}/messages", json={"text": 12345})  # refused: not a string
    assert r.status_code == 422
    assert provider.spans == []
