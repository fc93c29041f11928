"""The ``siamese`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .engine.errors import EngineError, LimitExceeded
from .engine.solver import Limits, Query
from .engine.terms import format_term, resolve, to_json


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


def cmd_query(args: argparse.Namespace) -> int:
    from .engine.solver import compile_query
    from .engine.textsyntax import parse_goals
    from .policy.loader import load_policy_set

    policies = load_policy_set(_policy_dir(args.policy_dir))
    program = policies.program
    items, names = parse_goals(args.goal)
    goals = compile_query(program, items)
    input_data: Any = json.loads(args.input) if args.input else None
    q = Query(program, goals, limits=_limits(args), input=input_data, proofs=args.explain)
    shown = 0
    seen: set[str] = set()
    out = sys.stdout
    visible = {n: v for n, v in names.items() if n != "_"}
    for _ in q.solve_sync():
        values = {n: resolve(v) for n, v in visible.items()}
        key = repr(sorted((n, format_term(v)) for n, v in values.items()))
        if key in seen:
            continue
        seen.add(key)
        shown += 1
        if args.json:
            rec: dict[str, Any] = {n: to_json(v) for n, v in values.items()}
            if args.explain:
                rec = {"bindings": rec, "proof": [p.to_dict() for p in q.proof()]}
            out.write(json.dumps(rec) + "\n")
        else:
            text = ", ".join(f"{n} = {format_term(v)}" for n, v in values.items()) or "true"
            out.write(text + "\n")
            if args.explain:
                for node in q.proof():
                    out.write(node.format() + "\n")
        if args.limit and shown >= args.limit:
            break
    if not shown:
        if args.json:
            out.write(json.dumps({"solutions": 0}) + "\n")
        else:
            out.write("no solutions\n")
        if args.explain and len(goals) == 1:
            why = _drive(Query(program, goals, limits=_limits(args), input=input_data), goals[0])
            for w in why:
                out.write(w.format() + "\n")
    if not args.json:
        out.write(f"-- {shown} solution{'s' if shown != 1 else ''} (revision {policies.revision})\n")
    return 0


def _drive(q: Query, goal: Any) -> list[Any]:
    gen = q.why_not(goal)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return list(stop.value or [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siamese", description="Siamese policy decision point")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("query", help="ask any goal of the policy files, e.g. 'ancestor(?a, grace)'")
    q.add_argument("goal", help="goals in the text syntax, e.g. 'allow(?who, read, doc-1)'")
    q.add_argument("policy_dir", nargs="?", help="policy directory (default: policies/)")
    q.add_argument("--json", action="store_true", help="one JSON object per solution")
    q.add_argument("--explain", action="store_true", help="print each solution's proof tree")
    q.add_argument("--input", help="the request as JSON, for input(Path, ?V) goals")
    q.add_argument("--limit", type=int, default=0, help="stop after N solutions")
    _add_limit_flags(q)
    q.set_defaults(func=cmd_query)
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
