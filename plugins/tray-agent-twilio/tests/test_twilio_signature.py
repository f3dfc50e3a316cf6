"""X-Twilio-Signature: the plugin's verifier against PROTOCOLS.md's vector and against
the official twilio package's RequestValidator."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from tray_agent.sandbox.webhooks import twilio_signature
from tray_agent_twilio import signature

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                 "From": "+14158675309", "To": "+18005551212"}


class MultiDict(dict):  # what RequestValidator reads repeated parameters from
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


def test_protocols_test_vector() -> None:
    assert signature.compute("12345", VECTOR_URL, VECTOR_PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature.is_valid("12345", [VECTOR_URL], list(VECTOR_PARAMS.items()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


@pytest.mark.parametrize("pairs", [
    [("Body", "Grüße — ✓ <b>&amp;</b>"), ("From", "+14155550123"), ("NumMedia", "0")],
    [("MediaUrl0", "https://x/a"), ("MediaUrl0", "https://x/b"), ("Body", "")],  # repeated and blank
    [],
])
def test_agrees_with_the_official_request_validator(pairs: list[tuple[str, str]]) -> None:
    url = "https://agent.example/webhooks/7/inbound?x=1"
    official = RequestValidator("tok3n").compute_signature(url, MultiDict(pairs))
    assert signature.compute("tok3n", url, pairs) == official
    assert twilio_signature("tok3n", url, pairs) == official  # the sandbox signs the same way


def test_default_port_is_accepted_either_way() -> None:
    pairs = [("Body", "hi")]
    with_port = RequestValidator("t").compute_signature("https://a.example:443/hook", dict(pairs))
    assert signature.is_valid("t", ["https://a.example/hook"], pairs, with_port)
    without = RequestValidator("t").compute_signature("http://a.example/hook", dict(pairs))
    assert signature.is_valid("t", ["http://a.example:80/hook"], pairs, without)


def test_other_url_token_or_parameters_are_refused() -> None:
    pairs = [("Body", "hi"), ("From", "+14155550123")]
    good = RequestValidator("t").compute_signature("https://a.example/hook", dict(pairs))
    assert not signature.is_valid("t", ["https://a.example/other"], pairs, good)
    assert not signature.is_valid("u", ["https://a.example/hook"], pairs, good)
    assert not signature.is_valid("t", ["https://a.example/hook"], pairs + [("Extra", "1")], good)
    assert not signature.is_valid("t", ["https://a.example/hook"], pairs, None)
    assert not signature.is_valid("", ["https://a.example/hook"], pairs, good)


def test_webhook_rules_sha256_signatures() -> None:
    pairs = [("Body", "hi")]
    header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    official = RequestValidator("t").compute_signature("https://a.example/h", dict(pairs), algorithm="HMAC_SHA256")
    assert signature.algorithm_from(header) == "HMAC_SHA256"
    assert signature.algorithm_from(None) == "HMAC_SHA1"
    assert signature.is_valid("t", ["https://a.example/h"], pairs, official, signature.algorithm_from(header))
