"""Secrets in decision requests, and what the decision log may show of a request.

A request's secrets are the values at secret-named keys, at any depth (headers, query
parameters, JSON properties, claims), the values of secret-named query parameters inside
any URI-looking string, and every JWT-shaped substring. A :class:`Redactor` finds them and
gives the request as the log shows it: secrets replaced by ``[REDACTED]``, long strings
cut, an oversized request cut down to its ids. It also gives a :class:`Scrubber` that removes
those same secrets from every other place a value of the request can reappear: the
explanation (proof goals, why-not ``failed_goal`` and ``bindings``), the reason, the errors,
and the answer sent back.

Most requests hold no secret and are small: one scan of their JSON says so, and only the
others are walked. The redactor remembers its answers for recent requests (the requests the
decision cache answers are the same requests again), within a bound in bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

import orjson

from .jsonsafe import jsonable

__all__ = [
    "DEFAULT_REDACT",
    "MAX_REQUEST_BYTES",
    "MAX_STRING",
    "REDACTED",
    "Redacted",
    "Redactor",
    "Scrubber",
    "cut",
    "cut_strings",
    "is_secret_name",
]

REDACTED = "[REDACTED]"
# Names whose values are secrets wherever they appear (compared lower-case, with '-' read as
# '_'), besides the families that _CONTAINS and _SUFFIXES match.
DEFAULT_REDACT = frozenset({
    "authorization", "proxy_authorization", "cookie", "set_cookie", "x_api_key", "api_key",
    "apikey", "password", "passwd", "secret", "client_secret", "token", "access_token",
    "refresh_token", "id_token", "session", "credentials", "private_key", "sig",
})
# a name holding one of these is a secret's: x-client-secret, user_password, set-cookie...
_CONTAINS = ("password", "passwd", "passphrase", "secret", "credential", "cookie",
             "authorization", "sessid")
# a name ending with one of these is a secret's: x-auth-token, x-amz-security-token,
# x-csrf-token, csrftoken, x-api-key, aws_access_key, x-amz-signature, jsessionid...
_SUFFIXES = ("token", "api_key", "apikey", "private_key", "access_key", "signature",
             "session", "session_id", "sessionid")

# every word of _CONTAINS, _SUFFIXES and DEFAULT_REDACT holds one of these (a test checks)
_STEMS = ("auth", "cookie", "pass", "secret", "token", "key", "sess", "credential", "sig",
          "eyj")

MAX_STRING = 8192  # characters of one string (or key) of a request or explanation in the log
MAX_REQUEST_BYTES = 32768  # bytes of a request in the log, once its strings are cut
_MEMO_BYTES = 8 * 2**20  # what the redactor's memory of recent requests may hold
_MEMO_ENTRY = 16384  # larger requests are not remembered
_ENTRY_OVERHEAD = 256  # bytes of bookkeeping per remembered request
_MAX_NOTES = 20
_SHORT = 6  # a secret shorter than this is replaced only as a whole word (not inside one)

# A JWT-shaped substring that starts a word. Possessive runs, and a start that cannot be
# inside a run: each character is read a bounded number of times ("eyJeyJeyJ…" is linear).
_JWT = r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+"
_JWT_RE = re.compile(_JWT)
# name=value in a query string (after '?', or after '&' or ';'), the value up to the next one
_PARAM = re.compile(r"(?:^|[?&;])([^=&;#?]+)=([^&;#]*)")
_PCT_IN_QUERY = re.compile(rb'[?&;][^"=&;#?]*%')
_WORD = re.compile(r"\w+")
_CUT_MARK = re.compile(r"\[\d+ more characters\]")
_MAX_SECRETS = 256  # distinct secret values of a request that are scrubbed one by one
_FEW = 16  # forms scrubbed by plain substring search; more go through an index
_MAX_ODD_SHORT = 32  # short secrets that are not words, scrubbed by one pattern


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")


def is_secret_name(name: str, names: frozenset[str] = DEFAULT_REDACT) -> bool:
    """Whether values under ``name`` (a header, a parameter, a property, a claim) are
    secrets: one of ``names``, or of the secret families (``*token``, ``*secret*``...)."""
    n = _normal(name.strip())
    return n in names or n.endswith(_SUFFIXES) or any(w in n for w in _CONTAINS)


def _escaped_forms(s: str) -> set[str]:
    """``s`` as it may appear inside an explanation's text: as is, quoted the way the text
    syntax quotes atoms (engine.terms.format_term), and inside JSON written with ASCII
    escapes (a JSON-valued term)."""
    atom = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return {s, atom, orjson.dumps(s).decode()[1:-1] if s.isascii() else _ascii_json(s)}


def _ascii_json(s: str) -> str:
    import json

    return json.dumps(s)[1:-1]


class Scrubber:
    """Removes a request's secrets (and any JWT) from a value: every string and key in it,
    as a whole or as a substring; a secret shorter than six characters only where it is a
    whole word. A text that an explanation shortened (``…``) or the log cut (``…[N more
    characters]``) loses a secret's beginning at that end too.

    The work is linear in the text whatever the number of secrets: a few are searched
    for one by one, more through an index of their first six characters; a request with
    more than 256 secret values gets a scrubber that replaces every text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s and s != REDACTED}
        self.total = len(values) > _MAX_SECRETS
        forms: set[str] = set()
        for s in values if not self.total else ():
            forms |= _escaped_forms(s)
        ordered = sorted(forms, key=lambda f: (-len(f), f))  # a secret before its parts
        self.secrets = tuple(ordered)
        long = [f for f in ordered if len(f) >= _SHORT]
        self._long = tuple(long) if len(long) <= _FEW else ()
        self._index: dict[str, list[str]] | None = None
        if len(long) > _FEW:
            self._index = {}
            for f in long:  # longest first in each list
                self._index.setdefault(f[:_SHORT], []).append(f)
        self._shortest = len(long[-1]) if long else 1 << 30
        short = [f for f in ordered if len(f) < _SHORT]
        self._words = frozenset(f for f in short if _WORD.fullmatch(f))
        odd = [f for f in short if f not in self._words]
        if len(odd) > _MAX_ODD_SHORT:
            self.total = True
        self._odd = (
            re.compile("|".join(rf"(?<!\w){re.escape(f)}(?!\w)" for f in odd)) if odd else None
        )
        # whether each form appears in JSON text as itself (no character JSON escapes)
        self._plain = len(ordered) <= _FEW and all(
            f.isascii() and f.isprintable() and '"' not in f and "\\" not in f for f in ordered
        )
        self._heads = tuple(f for f in ordered if len(f) >= 4)

    def may_touch(self, json_text: str) -> bool:
        """Whether scrubbing the value whose JSON is ``json_text`` may change it (false
        alarms allowed, misses not)."""
        if self.total or not self._plain or "…" in json_text or "eyJ" in json_text:
            return True
        return any(f in json_text for f in self.secrets)

    def text(self, s: str) -> str:
        if self.total:
            return REDACTED if s else s
        if len(s) >= self._shortest:
            if self._index is not None:
                s = self._indexed(s)
            else:
                for f in self._long:
                    if f in s:
                        s = s.replace(f, REDACTED)
        if self._words:
            s = _WORD.sub(self._word, s)
        if self._odd is not None:
            s = self._odd.sub(REDACTED, s)
        if "eyJ" in s:
            s = _JWT_RE.sub(REDACTED, s)
        if "…" in s:
            s = self._tail(s)
        return s

    def _word(self, m: re.Match[str]) -> str:
        return REDACTED if m.group() in self._words else m.group()

    def _indexed(self, s: str) -> str:
        index = self._index
        assert index is not None
        out: list[str] = []
        last = i = 0
        end = len(s) - _SHORT
        while i <= end:
            found = index.get(s[i : i + _SHORT])
            if found is not None:
                for f in found:
                    if s.startswith(f, i):
                        out.append(s[last:i])
                        out.append(REDACTED)
                        i = last = i + len(f)
                        break
                else:
                    i += 1
            else:
                i += 1
        if not out:
            return s
        out.append(s[last:])
        return "".join(out)

    def _tail(self, s: str) -> str:
        k = s.rfind("…")
        rest = s[k + 1 :]
        if rest and not _CUT_MARK.fullmatch(rest):
            return s
        body = s[:k]
        for f in self._heads:
            start = max(0, len(body) - len(f) + 1)
            i = body.find(f[:4], start)
            while i != -1:
                if f.startswith(body[i:]):
                    return body[:i] + REDACTED + "…" + rest
                i = body.find(f[:4], i + 1)
        return s

    def __call__(self, value: Any) -> Any:
        t = type(value)
        if t is str:
            return self.text(value)
        if t is dict:
            return {(self.text(k) if type(k) is str else k): self(v) for k, v in value.items()}
        if t is list or t is tuple:
            return [self(v) for v in value]
        return value


class Redacted(NamedTuple):
    """What the decision log shows of a request (a tuple: one is made per distinct request)."""

    json: bytes  # the request: secrets replaced, strings cut, size bounded
    scrub: Scrubber | None  # removes the request's secrets elsewhere; None: it holds none
    notes: tuple[str, ...] = ()  # what was cut (the event's ``truncated``)
    degraded: str | None = None  # why values were converted to be written at all
    size: int = 0  # bytes held by the redactor's memory while it remembers this


def cut(s: str, limit: int = MAX_STRING) -> str:
    """``s`` cut to ``limit`` characters, saying how many more it had."""
    return s[:limit] + f"…[{len(s) - limit} more characters]"


def cut_strings(value: Any, limit: int, path: list[str], notes: list[str]) -> Any:
    """``value`` with every string (and key) longer than ``limit`` characters cut; each cut
    is noted (``path.to.it: N characters, cut to limit``; the first 20)."""
    if isinstance(value, dict):
        out = {}
        for k, x in value.items():
            path.append(k[:64] if isinstance(k, str) else str(k))
            if isinstance(k, str) and len(k) > limit:
                _note(notes, path, len(k), limit, "a key: ")
                k = cut(k, limit)
            out[k] = cut_strings(x, limit, path, notes)
            path.pop()
        return out
    if isinstance(value, list):
        out_list = []
        for i, x in enumerate(value):
            path.append(f"[{i}]")
            out_list.append(cut_strings(x, limit, path, notes))
            path.pop()
        return out_list
    if isinstance(value, str) and len(value) > limit:
        _note(notes, path, len(value), limit)
        return cut(value, limit)
    return value


def _note(notes: list[str], path: list[str], size: int, limit: int, what: str = "") -> None:
    if len(notes) < _MAX_NOTES:
        where = ".".join(path).replace(".[", "[")
        notes.append(f"{what}{where}: {size} characters, cut to {limit}")
    elif len(notes) == _MAX_NOTES:
        notes.append("... and more")


class Redactor:
    """Finds a request's secrets and gives the request as the log shows it.

    ``names``: exact names whose values are secrets (compared lower-case, ``-`` read as
    ``_``), on top of the secret families (``*token``, ``*secret*``, ``*password*``...).
    """

    def __init__(
        self,
        names: Iterable[str] = DEFAULT_REDACT,
        *,
        max_string: int = MAX_STRING,
        max_request: int = MAX_REQUEST_BYTES,
        memo_bytes: int = _MEMO_BYTES,
    ) -> None:
        self.names = frozenset(_normal(n) for n in names)
        self.max_string = max_string
        self.max_request = max_request
        # What makes a request worth walking: the stem of a secret family's or a configured
        # name, or the start of a JWT, anywhere in its lower-cased JSON (false alarms only
        # cost a walk). One pattern of short stems: the regex engine tries them in one pass.
        stems = [*_STEMS, *(re.escape(n).replace("_", "[-_]") for n in self.names
                            if not any(stem in n for stem in _STEMS))]
        self._suspect = re.compile("|".join(stems).encode())
        # the answers for recent requests, by their JSON: a dict emptied when it holds more
        # than ``memo_bytes`` (keys and values together)
        self.memo: dict[bytes, Redacted] = {}
        self.memo_limit = memo_bytes
        self._memo_bytes = 0
        self._secret_names: dict[str, bool] = {}
        self._last_input: Any = None
        self._last: Redacted | None = None

    def is_secret(self, name: str) -> bool:
        known = self._secret_names.get(name)
        if known is None:
            known = is_secret_name(name, self.names)
            if len(name) <= 128:  # header and property names repeat: remember them
                if len(self._secret_names) >= 4096:
                    self._secret_names.clear()
                self._secret_names[name] = known
        return known

    @property
    def memo_bytes(self) -> int:
        """The bytes the memory of recent requests holds now (at most ``memo_limit``)."""
        return self._memo_bytes

    def dumps(self, value: Any) -> bytes:
        """``value`` as the log shows it, as JSON."""
        return self.of(value).json

    def of(self, value: Any) -> Redacted:
        """What the log shows of ``value`` (a request's input), and its secrets."""
        if value is self._last_input and self._last is not None:
            return self._last  # asked again for the same request: its answer, then the log
        try:
            raw = orjson.dumps(value)
        except orjson.JSONEncodeError as e:
            out = self._walk(jsonable(value), f"request: values converted to be written ({e})")
        else:
            memo = self.memo
            out = memo.get(raw)  # type: ignore[assignment]
            if out is None:
                out = self._redacted(value, raw)
                if len(raw) <= _MEMO_ENTRY:
                    if self._memo_bytes + out.size > self.memo_limit:
                        memo.clear()
                        self._memo_bytes = 0
                    memo[raw] = out
                    self._memo_bytes += out.size
        self._last_input, self._last = value, out
        return out

    def _redacted(self, value: Any, raw: bytes) -> Redacted:
        size = len(raw)
        if size > self.max_string:  # it may hold a string to cut
            return self._walk(value, None, size)
        low = raw.lower() if raw.isascii() else raw.decode().lower().encode()
        if self._suspect.search(low) is not None:
            return self._walk(value, None, size)
        if b"%" in low and _PCT_IN_QUERY.search(low):
            return self._walk(value, None, size)
        return Redacted(raw, None, size=size + _ENTRY_OVERHEAD)  # the key is the value

    # --- the slow path: requests with a secret, or a string to cut ----------------------

    def _walk(self, value: Any, degraded: str | None, key_bytes: int = 0) -> Redacted:
        secrets: set[str] = set()
        self._collect(value, secrets)
        notes: list[str] = []
        out = value
        if key_bytes > self.max_string or degraded is not None:
            # cut first: what is scrubbed below is then bounded (a cut secret's beginning is
            # still found, before the cut mark)
            out = cut_strings(out, self.max_string, ["request"], notes)
        data = orjson.dumps(out)
        if len(data) > self.max_request:
            notes.append(
                f"request: {len(data)} bytes, over {self.max_request}: only the ids are kept"
            )
            out = _ids_only(out)
        scrub = Scrubber(secrets) if secrets else None
        if scrub is not None:
            notes = [scrub.text(n) for n in notes]  # a path names keys, and keys are text
            if scrub.total:
                notes.append(f"request: {len(secrets)} secret values, over {_MAX_SECRETS}: "
                             "every text of the event is redacted")
            data = orjson.dumps(self._copy(out, scrub))
        elif out is not value or len(data) > self.max_request:
            data = orjson.dumps(out)
        size = key_bytes + len(data) + _ENTRY_OVERHEAD
        if scrub is not None:
            size += sum(len(f) for f in scrub.secrets)
        return Redacted(data, scrub, tuple(notes), degraded, size=size)

    def _collect(self, value: Any, out: set[str]) -> None:
        stack = [value]
        is_secret, text_secrets = self.is_secret, self._text_secrets
        while stack:
            v = stack.pop()
            t = type(v)
            if t is str:
                if "eyJ" in v or "=" in v:
                    text_secrets(v, out)
            elif t is dict:
                for k, x in v.items():
                    if type(k) is str:
                        if "eyJ" in k or "=" in k:
                            text_secrets(k, out)
                        if is_secret(k):
                            self._leaves(x, out)
                            continue
                    if type(x) is not int:
                        stack.append(x)
            elif t is list:
                stack.extend(v)
            elif isinstance(v, str | dict | list):  # subclasses: the rare, slower way
                stack.append(str(v) if isinstance(v, str) else
                             dict(v) if isinstance(v, dict) else list(v))

    def _text_secrets(self, s: str, out: set[str]) -> None:
        if "eyJ" in s:
            out.update(m.group() for m in _JWT_RE.finditer(s))
        if "=" in s:
            for m in _PARAM.finditer(s):
                if self.is_secret(unquote_plus(m.group(1))):
                    raw = m.group(2)
                    out.add(raw)
                    out.add(unquote_plus(raw))

    def _leaves(self, value: Any, out: set[str]) -> None:
        """Every scalar under a secret-named key, as text; and the parts of it that a policy
        may see alone: the credential of ``<scheme> <credential>``, the values of
        ``name=value`` pairs with a secret's name (a cookie's session id)."""
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, str):
                if v:
                    out.add(v)
                    _, _, credential = v.strip().partition(" ")
                    if credential and " " not in credential.strip():
                        out.add(credential.strip())
                    self._text_secrets(v, out)
            elif isinstance(v, bool) or v is None:
                continue
            elif isinstance(v, int | float):
                out.add(repr(v))
            elif isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)

    def _copy(self, v: Any, scrub: Scrubber) -> Any:
        """``v`` with the values of secret-named keys replaced and the secrets removed from
        every other string and key."""
        t = type(v)
        if t is str:
            return scrub.text(v)
        if t is dict:
            text, is_secret, copy = scrub.text, self.is_secret, self._copy
            out = {}
            for k, x in v.items():
                if type(k) is str:
                    out[text(k)] = REDACTED if is_secret(k) else copy(x, scrub)
                else:
                    out[k] = copy(x, scrub)
            return out
        if t is list:
            return [self._copy(x, scrub) for x in v]
        if isinstance(v, str | dict | list):  # subclasses
            return self._copy(str(v) if isinstance(v, str) else
                              dict(v) if isinstance(v, dict) else list(v), scrub)
        return v


def _ids_only(request: Any) -> Any:
    """An oversized request cut down to what names it: the subject, action and resource."""
    if not isinstance(request, dict):
        return {}
    out: dict[str, Any] = {}
    for part, keys in (("subject", ("type", "id")), ("action", ("name",)),
                       ("resource", ("type", "id"))):
        ent = request.get(part)
        if isinstance(ent, dict):
            out[part] = {k: ent[k] for k in keys if k in ent}
    return out
