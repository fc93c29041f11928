"""The pure logic engine: policy text in, verdicts and explanations out.

Standard library only (PyYAML for the YAML syntax, ``regex`` for its match timeout). It
opens no file, reads no clock it was not given, logs nothing and reaches no network.
The rest of Siamese imports it from here: the names in ``__all__`` are its public API.

The layout, from the bottom up. A module imports only modules on its own row or below,
and there is no import cycle, local imports included (``tests/engine/test_layout.py``
checks both, and the sizes).

==================  ======================================================================
records             ``errors`` (the exceptions), ``terms`` (variables, structures,
                    unification, walks, atom keys), ``ast`` (parsed clauses),
                    ``goals`` (goal templates and runtime goals, continuation cells and
                    choicepoints: their layouts; building goals from templates)
syntax              ``lexer`` and ``textsyntax`` (the text syntax), ``textformat``
                    (writing it back), ``yamlsyntax``, ``syntax`` (one entry point by
                    file name), ``patterns`` (regex and glob, bounded)
built-ins           ``limits`` (:class:`Limits` and the step/clock :class:`Budget`),
                    ``context`` (:class:`BuiltinContext`: what a built-in sees),
                    ``compat`` (the original engine's term API, for custom built-ins),
                    ``builtins``
explanation data    ``proof`` (:class:`ProofNode`, :class:`WhyNot`), ``render`` (their text)
programs            ``program`` (predicates, fact indexes, compiled clauses),
                    ``tables`` (the one table key, tables, consumers, the shared store),
                    ``events`` (proof events; every proof's JSON is made here),
                    ``analysis`` (tabling, request dependence, stratification),
                    ``fastgen`` (generating clause bodies as Python), ``fastpath``
                    (which bodies are compiled, in which modes; their code kept),
                    ``build`` (build → analyse → compile: a finished :class:`Program`)
the machine         ``machine`` (the SLD loop with the table fixpoint; it is its own
                    :class:`Budget`), ``codetables`` (tables made by generated code
                    when the fixpoint's order is known without running it)
explanations        ``whynot`` (one pass: a call's first proof as JSON, or why not; and
                    the same pass by compiled code alone)
drivers             ``driver`` (:class:`Query`: the machine with its sync and async
                    drivers; making queries)
decisions           ``decide`` (:func:`decide`, :func:`response_headers`,
                    :func:`enumerate_values`: the narrow questions of the decision layer)
==================  ======================================================================

Rules that keep it that way:

* Built-ins receive a :class:`BuiltinContext`, never the machine.
* Generated code (``fastpath``) uses only the machine's budget (``steps``,
  ``next_check``, ``checkpoint()``), ``find_table``, ``table_now``, ``input``,
  ``limits`` and ``ctx``; its table keys come from
  ``tables.table_key``, the function the machine uses.
* A :class:`Program` is finished by :func:`build`/:func:`finish` before it is queried;
  a query never analyses, and refuses an unfinished program.
* The decision layer asks :func:`decide` and turns the :class:`Verdict` into its
  outcome; it never builds goals or touches a query's state.
"""

from __future__ import annotations

from .ast import BodyItem, Clause, FactBlock, Goal, Not, Or, ProgramItem
from .build import build, finish
from .builtins import BUILTIN_ARITIES, DEFAULT_BUILTINS, Builtin, custom, lookup_path
from .context import BuiltinContext, mark_volatile, note
from .decide import Verdict, decide, enumerate_values, response_headers
from .driver import Query, call_goal, compile_query, distinct_solutions, solution_key
from .errors import EngineError, EvaluationError, LimitExceeded, PolicyErrors, PolicySyntaxError
from .fastpath import compiled_sources
from .limits import Limits
from .program import Predicate, Program
from .proof import MAX_PROOF_DEPTH, QUERY_PROOF_DEPTH, ProofNode, WhyNot
from .render import Style, proof_lines, why_not_lines
from .syntax import parse_source, policy_kind
from .terms import (
    JsonMap,
    Struct,
    Var,
    format_term,
    from_json,
    resolve,
    same_value,
    to_json,
)
from .textsyntax import parse_goals

__all__ = [
    "BUILTIN_ARITIES",
    "DEFAULT_BUILTINS",
    "MAX_PROOF_DEPTH",
    "QUERY_PROOF_DEPTH",
    "BodyItem",
    "Builtin",
    "BuiltinContext",
    "Clause",
    "EngineError",
    "EvaluationError",
    "FactBlock",
    "Goal",
    "JsonMap",
    "LimitExceeded",
    "Limits",
    "Not",
    "Or",
    "PolicyErrors",
    "PolicySyntaxError",
    "Predicate",
    "Program",
    "ProgramItem",
    "ProofNode",
    "Query",
    "Struct",
    "Style",
    "Var",
    "Verdict",
    "WhyNot",
    "build",
    "call_goal",
    "compile_query",
    "compiled_sources",
    "custom",
    "decide",
    "distinct_solutions",
    "enumerate_values",
    "finish",
    "format_term",
    "from_json",
    "lookup_path",
    "mark_volatile",
    "note",
    "parse_goals",
    "parse_source",
    "policy_kind",
    "proof_lines",
    "resolve",
    "response_headers",
    "same_value",
    "solution_key",
    "to_json",
    "why_not_lines",
]
