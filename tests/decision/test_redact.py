"""What the decision log may show of a request: secrets found by name (a family of names,
at any depth), inside query strings and as JWT substrings, and removed wherever a value of
the request reappears; each event bounded in size, and saying what was cut; the redactor's
memory bounded in bytes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from siamese.audit.event import MAX_STRING, Redactor, event_line
from siamese.decision import redact as redact_module
from siamese.decision.models import Decision, Outcome, Request
from siamese.decision.redact import DEFAULT_REDACT, Scrubber, is_secret_name

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def line(req: Request, outcome: Outcome | None = None, redact: Redactor | None = None) -> bytes:
    o = outcome or Outcome(False, "rev1", "no rule", {"kind": "default-deny", "why_not": []})
    return event_line(Decision(o, "id-1", req), now=0.0, redact=redact or Redactor())


def event(req: Request, outcome: Outcome | None = None, **kw: Any) -> dict[str, Any]:
    return orjson.loads(line(req, outcome, **kw))  # type: ignore[no-any-return]


def test_every_secret_word_holds_a_stem_of_the_quick_scan() -> None:
    # the scan that lets most requests skip the walk looks for these stems only
    stems = redact_module._STEMS
    for word in (*DEFAULT_REDACT, *redact_module._CONTAINS, *redact_module._SUFFIXES):
        assert any(s in word for s in stems), word


@pytest.mark.parametrize("name", [
    "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-API-Key", "api-key",
    "api_key", "apikey", "X-Auth-Token", "X-Amz-Security-Token", "X-CSRF-Token", "csrftoken",
    "X-Client-Secret", "client_secret", "private_key", "credentials", "X-Amz-Credential",
    "X-Amz-Signature", "sig", "password", "user_password", "passwd", "session", "JSESSIONID",
    "session_id", "access_token", "refresh_token", "id_token", "token", "aws_access_key",
])
def test_secret_names_by_family(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["id", "subject", "token_type", "keyboard", "department",
                                  "page", "x-request-id", "accept", "host"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize("name", ["X-Auth-Token", "X-Amz-Security-Token", "X-CSRF-Token",
                                  "X-Client-Secret", "api-key"])
def test_secret_headers_the_review_found_are_redacted(name: str) -> None:
    req = Request.simple("alice", "GET", "/x", http={"headers": {name.lower(): "s3cr3t-value"}})
    e = event(req)
    assert e["request"]["request"]["headers"][name.lower()] == "[REDACTED]"
    assert "s3cr3t-value" not in str(e)


def test_configured_names_add_to_the_families() -> None:
    req = Request.simple("alice", "read", "d", context={"SSN": "123-45-6789", "Tenant-PIN": "98"})
    e = event(req, redact=Redactor(DEFAULT_REDACT | {"ssn", "tenant_pin"}))
    assert e["request"]["context"] == {"SSN": "[REDACTED]", "Tenant-PIN": "[REDACTED]"}
    assert event(req)["request"]["context"]["SSN"] == "123-45-6789"  # not by default


@pytest.mark.parametrize("text", [f"Bearer {JWT}", f"/reset/{JWT}/confirm", f"t={JWT}&a=1"])
def test_a_jwt_inside_a_longer_string_is_redacted(text: str) -> None:
    req = Request.simple("alice", "GET", text[:1000], context={"note": text})
    raw = line(req)
    assert JWT.encode() not in raw
    e = orjson.loads(raw)
    assert "[REDACTED]" in e["request"]["context"]["note"]
    assert "[REDACTED]" in e["resource"] and "[REDACTED]" in e["request"]["resource"]["id"]


@pytest.mark.parametrize("uri", [
    "/cb?access_token=QSECRET-0123&state=1",
    "/cb?state=1&X-Amz-Signature=QSECRET-0123",
    "/cb?a=1&access%5Ftoken=QSECRET-0123",  # the name percent-encoded
    "https://app.example.com/cb?code=1&api_key=QSECRET-0123#frag",
])
def test_secret_query_parameters_in_uri_headers_and_the_query(uri: str) -> None:
    query = {"access_token": "QSECRET-0123", "state": "1"}
    headers = {"x-original-uri": uri, "x-forwarded-uri": uri, "accept": "*/*"}
    req = Request.simple("alice", "GET", "/cb", context={"url": uri},
                         http={"headers": headers, "query": query})
    raw = line(req)
    assert b"QSECRET" not in raw
    e = orjson.loads(raw)
    assert "[REDACTED]" in e["request"]["request"]["headers"]["x-original-uri"]
    assert e["request"]["request"]["query"] == {"access_token": "[REDACTED]", "state": "1"}


def test_a_secret_is_removed_from_the_explanation_reason_and_errors() -> None:
    secret = "hunter2-correct-horse"
    req = Request.simple("alice", "read", "d", context={"password": secret, "short": "x"})
    why = {
        "rule": "pw", "location": "p.rules:1", "goal": "allow(alice, read, d)",
        "failed_goal": f'eq("{secret}", "open-sesame")', "failed_location": "p.rules:1:30",
        "bindings": {"?p": secret, "?list": [secret, 1]},
        "because": [{"failed_goal": "long_goal(" + "a" * 280 + secret[:9] + "…"}],
    }
    outcome = Outcome(False, "rev1", f"no rule allows {secret}",
                      {"kind": "default-deny", "why_not": [why]}, errors=(f"bad {secret}",))
    raw = line(req, outcome)
    assert secret.encode() not in raw and secret[:9].encode() not in raw
    e = orjson.loads(raw)
    w = e["explanation"]["why_not"][0]
    assert w["failed_goal"] == 'eq("[REDACTED]", "open-sesame")'
    assert w["bindings"] == {"?p": "[REDACTED]", "?list": ["[REDACTED]", 1]}
    assert w["because"][0]["failed_goal"].endswith("a[REDACTED]…")
    assert e["reason"] == "no rule allows [REDACTED]" and e["errors"] == ["bad [REDACTED]"]
    # the outcome is shared by every cache hit: a request without the secret shows it whole
    plain = orjson.loads(line(Request.simple("alice", "read", "d"), outcome))
    assert plain["reason"] == f"no rule allows {secret}"


def test_secrets_as_the_text_syntax_and_json_escape_them() -> None:
    secret = 'pa"ss\\wörd\n9'
    scrub = Scrubber([secret])
    assert scrub.text('eq("pa\\"ss\\\\wörd\\n9", x)') == 'eq("[REDACTED]", x)'
    assert scrub.text('{"p": "pa\\"ss\\\\w\\u00f6rd\\n9"}') == '{"p": "[REDACTED]"}'
    # a short secret only as a whole word
    assert Scrubber(["abc"]).text("abc tabc abc.") == "[REDACTED] tabc [REDACTED]."


def test_many_secrets_are_scrubbed_through_the_index_and_too_many_redact_every_text() -> None:
    secrets = {f"x{i}_token": f"value-{i:04d}-secret" for i in range(40)}
    req = Request.simple("alice", "read", "d", context=secrets)
    why = {"bindings": {"?all": " ".join(secrets.values())}}
    outcome = Outcome(False, "rev1", "no rule", {"kind": "default-deny", "why_not": [why]})
    raw = line(req, outcome)
    assert b"-secret" not in raw
    assert orjson.loads(raw)["explanation"]["why_not"][0]["bindings"]["?all"].startswith(
        "[REDACTED] [REDACTED]")
    many = {f"x{i}_token": f"v{i}" for i in range(300)}
    raw = line(Request.simple("alice", "read", "d", context=many), outcome)
    e = orjson.loads(raw)
    assert e["reason"] == "[REDACTED]" and "over 256" in e["truncated"][-1]
    assert b'"v1"' not in raw and b"v299" not in raw


ADVERSARIAL = """
import sys, time
from siamese.decision.redact import Redactor
from siamese.decision.models import Decision, Outcome, Request
from siamese.audit.event import event_line
text = sys.argv[1] * (1_000_000 // len(sys.argv[1]))
req = Request.simple("alice", "read", "d", context={"t": text, "access_token": text[:20]})
o = Outcome(False, "r", "no rule", {"kind": "default-deny", "why_not": [{"b": {"?x": text}}]})
event_line(Decision(o, "id", req), now=0.0, redact=Redactor())
print("done")
"""


@pytest.mark.parametrize("unit", ["eyJ", "eyJ-", "eyJa.", "?a%", "?", "&a=", "value-"])
def test_adversarial_strings_are_redacted_in_linear_time(unit: str) -> None:
    # each of these made a pattern read the rest of a 1 MB string again from every position
    # (minutes of CPU on the request path); the deadline only catches such a hang
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ADVERSARIAL, unit], capture_output=True,
                          timeout=120, text=True)
    assert done.stdout.strip() == "done", done.stderr[-2000:]


def test_a_request_without_secrets_is_logged_as_it_came() -> None:
    req = Request.simple("alice", "read", "d", context={"ip": "10.1.2.3", "tokens": 3})
    assert orjson.loads(line(req))["request"] == req.input


# --- the size of an event --------------------------------------------------------------------


def test_a_large_request_is_cut_and_the_event_says_so() -> None:
    big = "x" * 1_000_000
    req = Request.simple("alice", "read", "d", context={"blob": big, "ip": "10.1.2.3"})
    raw = line(req)
    assert len(raw) < 64 * 1024
    e = orjson.loads(raw)
    assert e["request"]["context"]["ip"] == "10.1.2.3"
    assert e["request"]["context"]["blob"].startswith("x" * MAX_STRING)
    assert e["request"]["context"]["blob"].endswith(f"…[{1_000_000 - MAX_STRING} more characters]")
    assert e["truncated"] == [
        f"request.context.blob: 1000000 characters, cut to {MAX_STRING}"
    ]


def test_a_request_of_many_small_parts_keeps_only_its_ids() -> None:
    req = Request.simple("alice", "read", "d", context={"n": list(range(200_000))})
    raw = line(req)
    assert len(raw) < 64 * 1024
    e = orjson.loads(raw)
    assert e["request"] == {"subject": {"type": "user", "id": "alice"},
                            "action": {"name": "read"}, "resource": {"type": "resource", "id": "d"}}
    assert "only the ids are kept" in e["truncated"][0]


def test_a_large_explanation_is_cut_and_the_event_says_so() -> None:
    why = [{"rule": f"r{i}", "bindings": {"?x": "y" * 10_000}} for i in range(3)]
    outcome = Outcome(False, "rev1", "no rule", {"kind": "default-deny", "why_not": why})
    e = event(Request.simple("alice", "read", "d"), outcome)
    assert e["explanation"]["why_not"][0]["bindings"]["?x"].startswith("y" * MAX_STRING)
    assert "explanation.why_not[0].bindings.?x: 10000 characters" in e["truncated"][0]
    huge = [{"rule": f"r{i}", "goal": "g" * 200} for i in range(1000)]
    outcome = Outcome(False, "rev1", "no rule", {"kind": "default-deny", "why_not": huge},
                      rule_ids=("r1",))
    raw = line(Request.simple("alice", "read", "d"), outcome)
    e = orjson.loads(raw)
    assert len(raw) < 64 * 1024 and e["explanation"] == {"kind": "default-deny", "omitted": True}
    assert e["rule_ids"] == ["r1"] and "explanation:" in e["truncated"][0]


def test_the_redactors_memory_is_bounded_in_bytes() -> None:
    r = Redactor(memo_bytes=1 << 20)
    for i in range(20_000):
        r.dumps({"subject": {"id": f"user-{i}"}, "context": {"pad": "p" * 200}})
        assert r.memo_bytes <= 1 << 20
    assert len(r.memo) > 100  # it does remember
    for i in range(20):  # a large request is not remembered at all
        r.dumps({"context": {"blob": str(i) * 1_000_000}})
    assert r.memo_bytes <= 1 << 20 and all(len(k) < 100_000 for k in r.memo)
