"""The decision stack wired from settings: the policy store (with its gate and archive), the
decision cache, the decision service, the watcher, the ``http_get_json`` client and the
decision log. The server (``server.app.build_app``) and the embedded decision point build the
same stack, so that they decide alike; each adds its own lifecycle around it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from . import policytest
from .audit.log import AuditLog
from .audit.sink import JsonlSink
from .decision.authorizer import Authorizer
from .decision.cache import DecisionCache
from .decision.redact import DEFAULT_REDACT, Redactor
from .decision.service import DecisionService
from .engine import Builtin
from .pip import HttpData, OperatorBuiltinError, load_operator_builtins
from .policy.archive import RevisionArchive
from .policy.store import PolicyStore, ReloadResult
from .policy.watcher import PolicyWatcher
from .settings import Settings

__all__ = ["DecisionStack", "build_stack", "external_builtins", "redactor"]


@dataclass
class DecisionStack:
    """What :func:`build_stack` wired. Nothing is started: the owner starts and stops the
    ``watcher`` and the ``audit_log`` (when there are any), and closes ``http``."""

    settings: Settings
    store: PolicyStore
    service: DecisionService
    cache: DecisionCache | None
    watcher: PolicyWatcher | None
    http: HttpData
    audit_log: AuditLog | None
    redact: Redactor
    builtins: dict[str, Builtin]  # the engine's extra built-ins (external data, operator's)


def build_stack(settings: Settings, *, audit: bool = True) -> DecisionStack:
    """Wire the stack from settings and load the policy set once. A set that fails to load is
    not fatal: nothing serves (decisions are error denies) until a reload succeeds.
    ``audit``: whether to open the decision log that the settings name (the server passes
    False when its caller brings its own audit function).
    Raises ValueError, naming the variable, for settings that cannot serve (a missing
    directory, a bad SIAMESE_HTTP_ALLOW entry, SIAMESE_BUILTINS that cannot be loaded)."""
    if not os.path.isdir(settings.policy_dir):
        raise ValueError(f"SIAMESE_POLICY_DIR: {settings.policy_dir}: no such directory")
    builtins, http = external_builtins(settings)
    # SIAMESE_RELOAD_REQUIRE_TESTS: a set serves only if its *.test.yaml tests pass;
    # SIAMESE_REVISION_ARCHIVE: each set that serves is kept on disk, written in the reload's
    # worker thread before it serves (see PolicyStore's before_serving)
    archive = RevisionArchive(settings.revision_archive) if settings.revision_archive else None
    store = PolicyStore(
        settings.policy_dir,
        builtins=builtins,
        gate=policytest.gate if settings.reload_require_tests else None,
        before_serving=archive.keep if archive is not None else None,
    )
    store.load_sync()
    cache = (
        DecisionCache(settings.cache_size, settings.cache_ttl) if settings.cache_enabled else None
    )
    if cache is not None:
        store.listeners.append(_clear_on_change(cache))
    service = DecisionService(store.get, Authorizer(limits=settings.limits()), cache)
    watcher = PolicyWatcher(store) if settings.reload else None
    redact = redactor(settings)
    audit_log = (
        AuditLog(JsonlSink(settings.audit_log), required=settings.audit_required, redact=redact)
        if audit and settings.audit_enabled
        else None
    )
    return DecisionStack(
        settings, store, service, cache, watcher, http, audit_log, redact, builtins
    )


def redactor(settings: Settings) -> Redactor:
    """The redactor of the built-in secret names and SIAMESE_AUDIT_REDACT's."""
    return Redactor(DEFAULT_REDACT | frozenset(settings.audit_redact))


def external_builtins(settings: Settings) -> tuple[dict[str, Builtin], HttpData]:
    """The built-ins that reach outside the engine, as the settings describe them:
    ``http_get_json`` and ``json_path`` (SIAMESE_HTTP_*) and the operator's own
    (SIAMESE_BUILTINS); plus the :class:`HttpData` behind ``http_get_json``, which the
    caller closes (``await http.aclose()``). Raises ValueError naming the variable."""
    operator: dict[str, Builtin] = {}
    if settings.builtins:
        try:
            operator = load_operator_builtins(settings.builtins)
        except OperatorBuiltinError as e:
            raise ValueError(f"SIAMESE_BUILTINS: {e}") from None
    # built last: nothing above can fail and leave its client open
    http = HttpData(settings.http_allow, **settings.http_options())
    return {**http.builtins(), **operator}, http


def _clear_on_change(cache: DecisionCache) -> Callable[[ReloadResult], None]:
    # Entries are keyed by revision, so they are never served stale; this frees them early.
    def listener(result: ReloadResult) -> None:
        if result.changed:
            cache.clear()

    return listener
