"""Property-based tests of every endpoint the OpenAPI document lists (schemathesis): against
a real agent on loopback with seeded conversations, messages, channels, a colleague and a
queue, requests built from the document alone never get a 500, and every answer matches
the document. Derandomized and bounded, so a run is repeatable and takes about a minute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import TinyChannel
from tests.api.live import PNG, LiveAgent, live_agent

#: The live stream never ends on its own; tests/api/test_api_events.py covers it.
ENDLESS = "/api/events/stream"
#: Not checked: schema-valid requests the service layer refuses on meaning (an empty reply,
#: an unknown channel kind, a malformed phone number, a forged upload id) answer 422 with
#: a message, as documented. Every other check runs: no 500, status codes, content types,
#: headers and bodies as the document says, and schema-invalid requests refused.
#: Cases per operation: ~40 operations x this, about a minute.
EXAMPLES = 20


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAgent]:
    with live_agent(tmp_path_factory.mktemp("fuzz"), plugins=(TinyChannel(),)) as a:
        for i in range(6):
            channel = a.sms if i % 2 else a.wa
            a.inbound(channel, f"+1415555{7100 + i}", f"hello {i} parcel", name=f"Customer {i}")
        a.inbound(a.wa, "+14155557200", "a photo", files=(("photo.png", "image/png", PNG),))
        conv = a.conversation_of(a.inbound(a.sms, "+14155557201", "please call me"))
        a.inbox.reply(a.me.id, conv, "On it")
        a.inbox.close(a.me.id, a.conversation_of(a.inbound(a.sms, "+14155557202", "bye")))
        yield a


def _operations(agent: LiveAgent) -> list:  # type: ignore[type-arg]
    schema = schemathesis.openapi.from_url(f"{agent.url}/api/openapi.json", headers=_auth(agent))
    return [op.ok() for op in schema.exclude(path=ENDLESS).get_all_operations()]


def _auth(agent: LiveAgent) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent.token}"}


def test_every_endpoint_answers_within_its_contract(agent: LiveAgent) -> None:
    operations = _operations(agent)
    assert len(operations) > 35  # every documented operation, not a handful
    failures: list[str] = []
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=_auth(agent), timeout=15, excluded_checks=[positive_data_acceptance])

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # one operation's failure must not hide the others'
            failures.append(f"{op.method.upper()} {op.path}: {str(exc).strip()[:2000]}")
    assert not failures, "\n\n".join(failures)
