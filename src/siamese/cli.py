"""The ``siamese`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .engine import (
    QUERY_PROOF_DEPTH,
    EngineError,
    LimitExceeded,
    Limits,
    PolicyErrors,
    PolicySyntaxError,
    Query,
    Style,
    compile_query,
    compiled_sources,
    distinct_solutions,
    format_term,
    parse_goals,
    proof_lines,
    to_json,
    why_not_lines,
)

if TYPE_CHECKING:
    from .engine import Builtin
    from .pip import HttpData

T = TypeVar("T")


def _policy_dir(arg: str | None) -> str:
    return arg or os.environ.get("SIAMESE_POLICY_DIR") or "policies"


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_depth=args.max_depth,
        max_solutions=args.max_solutions,
        max_steps=args.max_steps,
        timeout_ms=args.timeout_ms,
    )


def _add_limit_flags(p: argparse.ArgumentParser) -> None:
    env = os.environ
    p.add_argument("--max-depth", type=int, default=int(env.get("SIAMESE_MAX_DEPTH", 1000)))
    p.add_argument(
        "--max-solutions", type=int, default=int(env.get("SIAMESE_MAX_SOLUTIONS", 100_000))
    )
    p.add_argument("--max-steps", type=int, default=int(env.get("SIAMESE_MAX_STEPS", 1_000_000)))
    p.add_argument(
        "--timeout-ms", type=float, default=float(env.get("SIAMESE_TIMEOUT_MS", 5000))
    )


def _external_builtins() -> tuple[dict[str, Builtin], HttpData]:
    """The built-ins ``siamese serve`` adds to the engine's, from the same variables:
    ``http_get_json`` and ``json_path`` (SIAMESE_HTTP_*) and the operator's own
    (SIAMESE_BUILTINS), so that a policy that calls them checks, tests and decides here as
    it does on the server. Only those variables are read: a SIAMESE_HOST or SIAMESE_PORT
    the server would refuse does not stop ``siamese check``.

    Close the :class:`HttpData` (``await http.aclose()``) before its event loop ends; one
    that fetched nothing holds no connection."""
    from .settings import OPTIONS, Settings
    from .stack import external_builtins

    names = {o.env for o in OPTIONS if o.env.startswith("SIAMESE_HTTP_")} | {"SIAMESE_BUILTINS"}
    settings = Settings.from_environ({k: v for k, v in os.environ.items() if k in names})
    return external_builtins(settings)


def _run(work: Awaitable[T], http: HttpData) -> T:
    """Run ``work`` in a new event loop, closing the ``http_get_json`` client in it."""

    async def run() -> T:
        try:
            return await work
        finally:
            await http.aclose()

    return asyncio.run(run())


def _show_compiled(args: argparse.Namespace) -> int:
    """``siamese query --show-compiled PRED/N [POLICY_DIR]``: the generated code of each
    clause (the one positional argument, if any, is the policy directory)."""
    from .policy.loader import load_policy_set

    name, _, n = args.show_compiled.rpartition("/")
    if not name or not n.isascii() or not n.isdigit():
        raise SystemExit(f"siamese query: --show-compiled takes PRED/N, got {args.show_compiled!r}")
    builtins, _ = _external_builtins()  # it fetches nothing here: nothing to close
    policies = load_policy_set(_policy_dir(args.policy_dir or args.goal), builtins=builtins)
    try:
        clauses = compiled_sources(policies.program, name, int(n))
    except KeyError:
        raise SystemExit(f"siamese query: no predicate {name}/{n} in the policy set") from None
    for label, source in clauses:
        print(f"# {label}: " + ("compiled" if source is not None else "interpreted"))
        if source is not None:
            print(source)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from .policy.loader import load_policy_set

    if args.show_compiled:
        return _show_compiled(args)
    if not args.goal:
        raise SystemExit("siamese query: a goal is required (or --show-compiled PRED/N)")
    builtins, http = _external_builtins()
    policies = load_policy_set(_policy_dir(args.policy_dir), builtins=builtins)
    program = policies.program
    items, names = parse_goals(args.goal)
    goals = compile_query(program, items)
    input_data: Any = json.loads(args.input) if args.input else None

    # the async driver: a goal may call async built-ins (http_get_json, the operator's)
    async def run() -> None:
        q = Query(program, goals, limits=_limits(args), input=input_data, proofs=args.explain)
        shown = 0
        out = sys.stdout
        solutions = distinct_solutions(q, names)
        try:
            async for values in solutions:
                shown += 1
                if args.json:
                    rec: dict[str, Any] = {n: to_json(v) for n, v in values.items()}
                    if args.explain:
                        proof = [p.to_dict(QUERY_PROOF_DEPTH) for p in q.proof()]
                        rec = {"bindings": rec, "proof": proof}
                    out.write(json.dumps(rec) + "\n")
                else:
                    text = ", ".join(f"{n} = {format_term(v)}" for n, v in values.items())
                    out.write((text or "true") + "\n")
                    if args.explain:
                        for node in q.proof():
                            for line in proof_lines(node.to_dict(QUERY_PROOF_DEPTH), indent="  "):
                                out.write(line + "\n")
                if args.limit and shown >= args.limit:
                    break
        finally:
            await solutions.aclose()
        if not shown:
            if args.json:
                out.write(json.dumps({"solutions": 0}) + "\n")
            else:
                out.write("no solutions\n")
            if args.explain and len(goals) == 1:
                why = Query(program, goals, limits=_limits(args), input=input_data)
                for w in await why.drive(why.why_not(goals[0])) or []:
                    for line in why_not_lines(w.to_dict(), indent="  "):
                        out.write(line + "\n")
        if not args.json:
            plural = "s" if shown != 1 else ""
            out.write(f"-- {shown} solution{plural} (revision {policies.revision})\n")

    _run(run(), http)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .policy.lint import Finding, lint
    from .policy.loader import build_program, scan

    root = _policy_dir(args.policy_dir)
    files, _ = scan(root)
    findings: list[Finding] = []
    builtins, _http = _external_builtins()  # only their names matter here: nothing is fetched
    try:
        program = build_program(files, builtins, lint_errors=False)
    except PolicyErrors as e:
        findings = [_as_finding(x) for x in e.errors]
    except (PolicySyntaxError, EngineError) as e:
        findings = [_as_finding(e)]
    else:
        findings = lint(program)
    if args.format == "json":
        print(json.dumps({"findings": [f.to_dict() for f in findings],
                          "files": [f.path for f in files]}, indent=2))
    else:
        for f in findings:
            print(str(f))
        errors = sum(1 for f in findings if f.severity == "error")
        print(f"{len(files)} files checked: {errors} errors, {len(findings) - errors} warnings")
    return 1 if findings else 0


def _as_finding(e: Exception) -> Any:
    from .policy.lint import Finding

    if isinstance(e, PolicySyntaxError):
        return Finding(e.source, e.line, e.col, "error", "syntax", e.message)
    text = str(e)
    path, _, rest = text.partition(":")
    return Finding(path if rest else "<policy>", 0, 0, "error", "load", rest.strip() or text)


def cmd_test(args: argparse.Namespace) -> int:
    from .decision.explain import format_explanation
    from .policy.loader import load_policy_set
    from .policytest import run_tests

    style = Style(sys.stdout.isatty() and not args.no_color)
    builtins, http = _external_builtins()
    policies = load_policy_set(_policy_dir(args.policy_dir), builtins=builtins)
    if not policies.tests:
        print(f"no *.test.yaml files under {policies.root}")
        return 1
    results = _run(run_tests(policies, _limits(args)), http)
    failed = 0
    for r in results:
        if r.passed:
            if args.verbose:
                print(f"{style.good('PASS')} {r.case.where}: {r.case.name}")
            continue
        failed += 1
        print(f"{style.bad('FAIL')} {r.case.where}: {r.case.name}")
        print(f"  {r.message}")
        if r.outcome is not None:
            for line in format_explanation(r.outcome.explanation, style):
                print("  " + line)
    passed = len(results) - failed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_decide(args: argparse.Namespace) -> int:
    from .decision.authorizer import Authorizer
    from .decision.explain import format_explanation
    from .decision.models import Request
    from .policy.loader import load_policy_set

    builtins, http = _external_builtins()
    policies = load_policy_set(_policy_dir(args.policy_dir), builtins=builtins)
    body = {
        "subject": {"type": args.subject_type, "id": args.subject,
                    "properties": json.loads(args.subject_properties or "{}")},
        "action": {"name": args.action},
        "resource": {"type": args.resource_type, "id": args.resource,
                     "properties": json.loads(args.resource_properties or "{}")},
        "context": json.loads(args.context or "{}"),
    }
    claims = json.loads(args.claims) if args.claims else None
    request = Request.from_authzen(body, claims=claims)
    outcome = _run(Authorizer(limits=_limits(args)).evaluate(policies, request), http)
    if args.json:
        print(json.dumps({"decision": outcome.allowed, "revision": outcome.revision,
                          "reason": outcome.reason, "rule_ids": list(outcome.rule_ids),
                          "explanation": outcome.explanation, "errors": list(outcome.errors)},
                         indent=2))
    else:
        style = Style(sys.stdout.isatty() and not args.no_color)
        word = style.good("ALLOW") if outcome.allowed else style.bad("DENY")
        print(f"{word} {args.subject} {args.action} {args.resource}: {outcome.reason}"
              f"  {style.dim('(revision ' + outcome.revision + ')')}")
        for line in format_explanation(outcome.explanation, style):
            print(line)
    return 0 if outcome.allowed else 3 if args.exit_code else 0


def cmd_plan(args: argparse.Namespace) -> int:
    """``siamese plan``: the query plan of one subject, action and resource type, from the
    files (what ``POST /v1/plan/resources`` answers against the serving policy set)."""
    from .plan import PlanError, PlanRequest, plan_resources
    from .policy.loader import load_policy_set

    builtins, _http = _external_builtins()  # a plan runs no async built-in: nothing to close
    policies = load_policy_set(_policy_dir(args.policy_dir), builtins=builtins)
    body = {
        "subject": {"type": args.subject_type, "id": args.subject,
                    "properties": json.loads(args.subject_properties or "{}")},
        "action": {"name": args.action},
        "resource": {"type": args.resource_type},
        "context": json.loads(args.context or "{}"),
    }
    claims = json.loads(args.claims) if args.claims else None
    request = PlanRequest.from_authzen(body, claims=claims)
    try:
        plan = plan_resources(policies, request, limits=_limits(args))
    except PlanError as e:
        print(f"siamese plan: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    style = Style(sys.stdout.isatty() and not args.no_color)
    print(f"{plan.kind} {args.subject} {args.action} {args.resource_type}"
          f"  {style.dim('(revision ' + plan.revision + ')')}")
    if plan.condition is not None:
        print(f"  where {plan.text}")
    for why in plan.explanation:
        effect = why.get("effect", "allow")
        word = style.good(effect) if effect == "allow" else style.bad(effect)
        print(f"  {word} {why.get('rule')} ({why.get('location')}): {why.get('condition')}")
    return 0


def _audit_path(arg: str | None) -> str:
    return arg or os.environ.get("SIAMESE_AUDIT_LOG") or "audit/decisions.jsonl"


def cmd_audit(args: argparse.Namespace) -> int:
    from .audit.search import Filter, find_event, log_files, parse_time, printable, read_events
    from .decision.explain import format_explanation

    path = _audit_path(args.log)
    if not log_files(path):
        print(f"siamese: no decision log at {path}", file=sys.stderr)
        return 2
    style = Style(sys.stdout.isatty() and not args.no_color)
    if args.show:
        found = find_event(path, args.show)  # newest first: a recent decision is found soon
        if found is None:
            print(f"siamese: no decision {args.show} in {path}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(found, indent=2))
            return 0
        e = printable(found)  # logged values may hold newlines and terminal escapes
        word = style.good("ALLOW") if e.get("decision") else style.bad("DENY")
        print(f"{word} {e.get('subject')} {e.get('action')} {e.get('resource')}: "
              f"{e.get('reason')}")
        print(f"  decision {e.get('decision_id')} at {e.get('time')}, revision "
              f"{e.get('revision')}{', from the cache' if e.get('cached') else ''}, "
              f"{e.get('latency_us')} µs")
        print("  request: " + json.dumps(e.get("request"), sort_keys=True))
        for line in format_explanation(e.get("explanation") or {}, style):
            print(line)
        return 0
    decision = None if args.decision is None else args.decision == "allow"
    flt = Filter(
        subject=args.subject, action=args.action, resource=args.resource, decision=decision,
        rule=args.rule, revision=args.revision,
        since=parse_time(args.since) if args.since else None,
        until=parse_time(args.until) if args.until else None,
        kind=None if args.kind == "any" else args.kind,
    )
    shown = 0
    for e in read_events(path):
        if not flt(e):
            continue
        shown += 1
        if args.json:
            print(json.dumps(e, sort_keys=True))
        else:
            print(_audit_line(printable(e)))  # logged values may hold newlines and escapes
        if args.limit and shown >= args.limit:
            break
    if not args.json:
        what = {"decision": "decision", "plan": "plan", "shadow": "disagreement"}.get(
            args.kind, "event")
        print(f"-- {shown} {what}{'s' if shown != 1 else ''}")
    return 0


def _audit_line(e: dict[str, Any]) -> str:
    """One logged event as a line of ``siamese audit``: a decision, or a plan (its filter's
    kind, and the rules behind its branches)."""
    from .audit.search import kind_of

    if kind_of(e) == "plan":
        flt = e.get("filter")
        kind = flt.get("kind") if isinstance(flt, dict) else None
        expl = e.get("explanation")
        rules = ",".join(str(x.get("rule")) for x in expl if isinstance(x, dict)) \
            if isinstance(expl, list) else ""
        return (f"{e.get('time')}  {e.get('plan_id')}  plan   {e.get('subject')} "
                f"{e.get('action')} {e.get('resource_type')}: {kind}  [{rules or '-'}]  "
                f"rev {e.get('revision')}")
    if kind_of(e) == "shadow":
        sides = []
        for name in ("serving", "shadow"):
            raw = e.get(name)
            side: dict[str, Any] = raw if isinstance(raw, dict) else {}
            rules = ",".join(str(r) for r in side.get("rule_ids") or []) or "-"
            sides.append(f"{name} {'allow' if side.get('decision') else 'deny'} [{rules}] "
                         f"rev {side.get('revision')}")
        return (f"{e.get('time')}  {e.get('decision_id')}  shadow {e.get('subject')} "
                f"{e.get('action')} {e.get('resource')}  {' / '.join(sides)}")
    word = "allow" if e.get("decision") else "deny "
    rules = ",".join(e.get("rule_ids") or []) or "-"
    return (f"{e.get('time')}  {e.get('decision_id')}  {word}  {e.get('subject')} "
            f"{e.get('action')} {e.get('resource')}  [{rules}]  rev {e.get('revision')}")


def cmd_replay(args: argparse.Namespace) -> int:
    from .audit.replay import replay
    from .audit.search import Filter, parse_time, printable, read_events
    from .decision.authorizer import Authorizer
    from .policy.loader import load_policy_set

    builtins, http = _external_builtins()
    policies = load_policy_set(args.policies, builtins=builtins)
    flt = Filter(since=parse_time(args.since) if args.since else None)
    events = (e for e in read_events(_audit_path(args.log)) if flt(e))
    count, changes = _run(replay(events, policies, Authorizer(limits=_limits(args))), http)
    for c in changes:
        if args.json:
            print(json.dumps(c.to_dict(), sort_keys=True))
            continue
        e = printable(c.event)
        old = "allow" if c.old_decision else "deny"
        new = "allow" if c.new.allowed else "deny"
        print(f"{e.get('decision_id')}  {e.get('subject')} {e.get('action')} "
              f"{e.get('resource')}: {old} -> {new}  "
              f"(rule {printable(c.rule)}; {printable(c.new.reason)})")
    summary = (f"{count} decisions replayed against revision {policies.revision}: "
               f"{len(changes)} would change")
    print(summary if not args.json else json.dumps({"replayed": count, "changed": len(changes),
                                                     "revision": policies.revision}),
          file=sys.stderr if args.json else sys.stdout)
    return 1 if changes else 0


# --- siamese serve --------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the PDP with uvicorn. Flags override SIAMESE_* variables: they are put into the
    environment, which is also how worker processes (``--workers N``) receive them."""
    import uvicorn

    from .server.app import build_app, uvicorn_options
    from .server.logs import configure_logging
    from .settings import Settings

    overrides = dict(args.siamese_env)
    environ = {**os.environ, **overrides}
    settings = Settings.from_environ(environ)
    configure_logging(settings.log_level, settings.log_format)
    options = uvicorn_options(settings)
    if settings.workers > 1:
        os.environ.update(overrides)
        if not os.path.isdir(settings.policy_dir):
            raise ValueError(f"SIAMESE_POLICY_DIR: {settings.policy_dir}: no such directory")
        uvicorn.run("siamese.server.app:app_from_environ", factory=True,
                    workers=settings.workers, **options)
    else:
        app = build_app(settings)
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again with
        # the handler it found: with this one, a graceful stop exits 0 rather than by signal.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_cleanly)
        uvicorn.run(app, **options)
    return 0


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


class _SetEnv(argparse.Action):
    """Record a flag as the SIAMESE_* variable it overrides."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        env = dict(getattr(namespace, "siamese_env", None) or {})
        if self.const is not None:  # --x / --no-x
            value = "false" if option_string and option_string.startswith("--no-") else "true"
        else:
            value = values
        if value is not None:
            env[self.dest] = str(value)
        namespace.siamese_env = env


def _add_serve_parser(sub: Any) -> None:
    from .settings import GROUPS, OPTIONS

    s = sub.add_parser(
        "serve",
        help="run the policy decision point over HTTP (hot reload on)",
        description="Run the PDP over HTTP. Every flag overrides the SIAMESE_* variable of the "
                    "same name (--cache-ttl <-> SIAMESE_CACHE_TTL).",
    )
    s.set_defaults(func=cmd_serve, siamese_env={})
    groups = {name: s.add_argument_group(title.lower()) for name, title in GROUPS.items()}
    for opt in OPTIONS:
        g = groups[opt.group]
        text = f"{opt.help.replace('`', '')} [{opt.env}]"
        if opt.kind == "positional":
            s.add_argument(opt.env, nargs="?", action=_SetEnv, default=None,
                           metavar="POLICY_DIR", help=text)
        elif opt.kind == "bool":
            g.add_argument(opt.flag, "--no-" + opt.flag[2:], nargs=0, action=_SetEnv,
                           dest=opt.env, const=True, default=None, help=text)
        else:
            g.add_argument(opt.flag, action=_SetEnv, dest=opt.env, default=None,
                           metavar=opt.metavar or opt.attr.upper(), help=text)


def _add_request_flags(p: argparse.ArgumentParser) -> None:
    """The policy directory and the known parts of a request (decide and plan)."""
    p.add_argument("policy_dir", nargs="?", help="policy directory (default: policies/)")
    p.add_argument("--subject", required=True)
    p.add_argument("--action", required=True)
    p.add_argument("--subject-type", default="user")
    p.add_argument("--subject-properties", help="JSON object")
    p.add_argument("--context", help="JSON object")
    p.add_argument("--claims", help="JSON object: the claims of a verified token")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siamese", description="Siamese policy decision point")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("query", help="ask any goal of the policy files, e.g. 'ancestor(?a, grace)'")
    q.add_argument("goal", nargs="?",
                   help="goals in the text syntax, e.g. 'allow(?who, read, doc-1)'")
    q.add_argument("policy_dir", nargs="?", help="policy directory (default: policies/)")
    q.add_argument("--json", action="store_true", help="one JSON object per solution")
    q.add_argument("--explain", action="store_true", help="print each solution's proof tree")
    q.add_argument("--input", help="the request as JSON, for input(Path, ?V) goals")
    q.add_argument("--limit", type=int, default=0, help="stop after N solutions")
    q.add_argument("--show-compiled", metavar="PRED/N",
                   help="print the Python generated for each clause of PRED/N instead of "
                        "asking a goal (interpreted clauses are named as such)")
    _add_limit_flags(q)
    q.set_defaults(func=cmd_query)

    c = sub.add_parser("check", help="parse and lint a policy directory")
    c.add_argument("policy_dir", nargs="?", help="policy directory (default: policies/)")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.set_defaults(func=cmd_check)

    t = sub.add_parser("test", help="run the *.test.yaml policy tests")
    t.add_argument("policy_dir", nargs="?", help="policy directory (default: policies/)")
    t.add_argument("-v", "--verbose", action="store_true", help="list the passing tests too")
    t.add_argument("--no-color", action="store_true")
    _add_limit_flags(t)
    t.set_defaults(func=cmd_test)

    d = sub.add_parser("decide", help="decide one request from the files, with its explanation")
    _add_request_flags(d)
    d.add_argument("--resource", required=True)
    d.add_argument("--resource-type", default="resource")
    d.add_argument("--resource-properties", help="JSON object")
    d.add_argument("--json", action="store_true")
    d.add_argument("--no-color", action="store_true")
    d.add_argument("--exit-code", action="store_true", help="exit 3 when the decision is deny")
    _add_limit_flags(d)
    d.set_defaults(func=cmd_decide)

    p = sub.add_parser("plan", help="which resources of a type a subject may act on, as a "
                       "filter (a query plan)")
    _add_request_flags(p)
    p.add_argument("--resource-type", required=True)
    p.add_argument("--json", action="store_true", help="the plan as the HTTP API answers it "
                   "(without a plan_id: nothing is logged)")
    p.add_argument("--no-color", action="store_true")
    _add_limit_flags(p)
    p.set_defaults(func=cmd_plan)

    a = sub.add_parser("audit", help="search the decision log")
    a.add_argument("log", nargs="?", help="the log (default: $SIAMESE_AUDIT_LOG or "
                   "audit/decisions.jsonl); rotated files are read too")
    a.add_argument("--subject")
    a.add_argument("--action")
    a.add_argument("--resource")
    a.add_argument("--decision", choices=["allow", "deny"])
    a.add_argument("--rule", help="a rule id that decided (or, for denials, did not match)")
    a.add_argument("--revision", help="a policy revision (a prefix is enough)")
    a.add_argument("--since", help="ISO 8601 time or an age such as 2h, 7d")
    a.add_argument("--until", help="ISO 8601 time or an age")
    a.add_argument("--limit", type=int, default=0)
    a.add_argument("--kind", choices=["decision", "plan", "shadow", "any"], default="decision",
                   help="the events to list: decisions (the default), query plans, a shadow "
                        "policy set's disagreements, or every kind")
    a.add_argument("--show", metavar="ID", help="print one decision with its full explanation")
    a.add_argument("--json", action="store_true", help="one JSON event per line")
    a.add_argument("--no-color", action="store_true")
    a.set_defaults(func=cmd_audit)

    r = sub.add_parser("replay", help="re-decide logged requests under another policy set")
    r.add_argument("log", help="the decision log")
    r.add_argument("--policies", required=True, help="the policy directory to replay against")
    r.add_argument("--since", help="only decisions since (ISO 8601 or an age)")
    r.add_argument("--json", action="store_true", help="one JSON object per change")
    _add_limit_flags(r)
    r.set_defaults(func=cmd_replay)

    _add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except LimitExceeded as e:
        print(f"siamese: {e}", file=sys.stderr)
        return 1
    except EngineError as e:
        print(str(e), file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"siamese: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
