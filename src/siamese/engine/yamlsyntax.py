"""The YAML policy format of the original engine (SPEC §3), and JSON fact files.

YAML files::

    facts:
      - [parent, david, john]                 # [predicate, args...]
    rules:
      - id: admins-approve                    # optional, as @id in the text syntax
        description: Admins approve orders    # optional
        head: [can_approve, '?U']
        body:                                 # optional; a rule without body is a fact
          - [user, '?U', '?Role']
          - [or, [eq, '?Role', admin], [eq, '?Role', manager]]
          - [not, [eq, '?Role', suspended]]

Terms, as the original engine read them:

* a string starting with ``?`` is a variable, the same name being the same variable within
  one rule (or one fact); ``_`` is an anonymous variable (each one distinct);
* scalars are what PyYAML's safe loader makes of them (YAML 1.1: ``yes``/``no`` are booleans),
  ``null`` becomes the atom ``"null"`` and dates become their ISO text;
* a nested list ``[name, args...]`` is the compound term ``name(args...)``: the original
  engine turned every nested list into a term, and files written for it rely on that;
* so a list *value* is written ``{list: [a, b]}``.

Goals: ``[or, G1, G2, ...]`` is a disjunction, each ``Gi`` a goal or a list of goals (a
conjunction); ``[not, G, ...]`` negates the conjunction of its goals; ``[and, G1, G2, ...]``
is a conjunction, inlined; anything else is a call. (The original engine's ``or`` never
evaluated its goals; here it is a real disjunction.)

JSON fact files, ``{"facts": [["role", "alice", "admin"], ...]}``, are data: arrays are
lists, objects are :class:`~siamese.engine.terms.JsonMap`, and a string is always a string,
even one that starts with ``?`` (a value in generated data must never act as a wildcard).

Ground facts come back as :class:`FactBlock` items (one per predicate and arity, as in the
text syntax), everything else as :class:`Clause`; facts are listed before rules, as the original
engine loaded them. Every item and every error carries the line (1-based) and column of its
node; errors are collected and raised together (:class:`PolicyErrors` when there are several).
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .ast import BodyItem, Clause, Goal, Not, Or, ProgramItem
from .errors import PolicyErrors, PolicySyntaxError
from .terms import Struct, Term, Var, from_json, is_ground
from .textsyntax import ProgramBuilder

__all__ = ["parse_json_facts", "parse_yaml"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_intern = sys.intern
_STR_TAG = "tag:yaml.org,2002:str"
_RULE_KEYS = ("head", "body", "id", "description")
_LONG_LINE = 240  # longer lines (minified JSON) are not echoed under the message


class _Failure(Exception):
    def __init__(self, error: PolicySyntaxError) -> None:
        super().__init__(str(error))
        self.error = error


class _Source:
    """Source name and text, for building located errors."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._lines: list[str] | None = None

    def line_text(self, line: int) -> str:
        if self._lines is None:
            self._lines = self.text.split("\n")
        if 1 <= line <= len(self._lines):
            text = self._lines[line - 1].rstrip("\r")
            return text if len(text) <= _LONG_LINE else ""
        return ""

    def error(self, line: int, col: int, message: str) -> PolicySyntaxError:
        return PolicySyntaxError(self.source, line, col, message, self.line_text(line))


def _raise_errors(errors: list[PolicySyntaxError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PolicyErrors(list(errors))


class _FactSink(ProgramBuilder):
    """A ProgramBuilder for facts given as name and arguments (a non-ground one is a Clause)."""

    __slots__ = ()

    def add(self, name: str, args: tuple[Term, ...], line: int, col: int) -> None:
        if is_ground(args):
            self.add_row(name, args, line)
        else:
            clause = Clause(Struct(name, args), (), source=self.source, line=line, col=col)
            self.items.append(clause)


# --- YAML -------------------------------------------------------------------------------


def _where(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


class _YamlReader:
    def __init__(self, text: str, source: str) -> None:
        self.src = _Source(text, source)
        self.constructor = SafeConstructor()
        self.errors: list[PolicySyntaxError] = []
        self.vars: dict[str, Var] = {}

    def fail(self, node: Node, message: str) -> _Failure:
        line, col = _where(node)
        return _Failure(self.src.error(line, col, message))

    def compose(self) -> Node | None:
        try:
            return yaml.compose(self.src.text, Loader=_Loader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            problem = e.problem or e.context or "not valid yaml"
            if e.problem and e.context and not e.context.startswith("while"):
                # the context says what was expected ("expected a single document ...")
                problem = f"{e.context}, {e.problem}"
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            raise self.src.error(line, col, f"invalid yaml: {problem}") from None
        except yaml.YAMLError as e:
            raise self.src.error(1, 1, f"invalid yaml: {e}") from None

    def program(self) -> list[ProgramItem]:
        root = self.compose()
        if root is None:
            return []
        if not isinstance(root, MappingNode):
            raise self.fail(root, "top level must be a mapping with 'facts' and/or 'rules'").error
        self.constructor.flatten_mapping(root)  # honour '<<' merge keys
        facts: Node | None = None
        rules: Node | None = None
        for key, value in root.value:
            # other top-level keys are ignored, as the original engine ignored them
            if isinstance(key, ScalarNode) and key.value == "facts":
                facts = value
            elif isinstance(key, ScalarNode) and key.value == "rules":
                rules = value
        sink = _FactSink(self.src.source)
        for fact in self.section(facts, "facts"):
            self.guarded(self.fact, fact, sink)
        items = sink.items
        for rule in self.section(rules, "rules"):
            self.guarded(self.rule, rule, items)
        _raise_errors(self.errors)
        return items

    def guarded(self, convert: Callable[[Node, Any], None], node: Node, out: Any) -> None:
        try:
            convert(node, out)
        except _Failure as f:
            self.errors.append(f.error)

    def section(self, node: Node | None, name: str) -> list[Node]:
        if node is None or self.is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.errors.append(self.fail(node, f"{name} must be a list").error)
            return []
        return list(node.value)

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    # -- facts and rules

    def fact(self, node: Node, sink: _FactSink) -> None:
        self.vars = {}
        name, args = self.callable(node, "a fact")
        line, col = _where(node)
        sink.add(name, args, line, col)

    def rule(self, node: Node, items: list[ProgramItem]) -> None:
        if not isinstance(node, MappingNode):
            raise self.fail(node, "a rule must be a mapping with 'head' and 'body'")
        self.constructor.flatten_mapping(node)
        self.vars = {}
        fields: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if name not in _RULE_KEYS:
                shown = name if name is not None else "?"
                raise self.fail(
                    key, f"unknown key '{shown}' in rule (expected head, body, id, description)"
                )
            fields[name] = value
        if "head" not in fields:
            raise self.fail(node, "rule without head")
        head_name, head_args = self.callable(fields["head"], "a rule head")
        body: list[BodyItem] = []
        body_node = fields.get("body")
        if body_node is not None and not self.is_null(body_node):
            if not isinstance(body_node, SequenceNode):
                raise self.fail(body_node, "rule body must be a list")
            for goal in body_node.value:
                body.extend(self.goal(goal))
        line, col = _where(node)
        rule_id = self.text_field(fields.get("id"), "id")
        description = self.text_field(fields.get("description"), "description")
        annotations = {
            k: v for k, v in (("id", rule_id), ("description", description)) if v is not None
        }
        items.append(
            Clause(
                Struct(head_name, head_args),
                tuple(body),
                id=rule_id,
                description=description,
                source=self.src.source,
                line=line,
                col=col,
                annotations=annotations,
            )
        )

    def text_field(self, node: Node | None, name: str) -> str | None:
        if node is None or self.is_null(node):
            return None
        if not isinstance(node, ScalarNode):
            raise self.fail(node, f"rule {name} must be a string")
        return str(node.value)

    def callable(self, node: Node, what: str) -> tuple[str, tuple[Term, ...]]:
        """``[name, args...]`` as a predicate name and its arguments."""
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, f"{what} must be a non-empty list [predicate, args...]")
        name = self.predicate_name(node.value[0])
        return name, tuple(self.term(arg) for arg in node.value[1:])

    def predicate_name(self, node: Node) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR_TAG:
            if isinstance(node, ScalarNode):
                shown = node.value
            else:
                shown = "a list" if isinstance(node, SequenceNode) else "a mapping"
            raise self.fail(node, f"predicate name must be a string, not {shown}")
        if node.value.startswith("?") or node.value == "_":
            raise self.fail(node, "variables cannot be predicate names")
        return _intern(node.value)

    # -- goals

    def goal(self, node: Node) -> list[BodyItem]:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, "a goal must be a non-empty list [predicate, args...]")
        first = node.value[0]
        line, col = _where(node)
        keyword = first.value if isinstance(first, ScalarNode) and first.tag == _STR_TAG else None
        rest = node.value[1:]
        if keyword in ("or", "not", "and") and not rest:
            raise self.fail(node, f"'{keyword}' needs at least one goal")
        if keyword == "or":
            return [Or(tuple(self.conjunction(branch) for branch in rest), line, col)]
        if keyword == "not":
            items: list[BodyItem] = []
            for g in rest:
                items.extend(self.conjunction(g))
            return [Not(tuple(items), line, col)]
        if keyword == "and":
            items = []
            for g in rest:
                items.extend(self.conjunction(g))
            return items
        name, args = self.callable(node, "a goal")
        return [Goal(Struct(name, args), line, col)]

    def conjunction(self, node: Node) -> tuple[BodyItem, ...]:
        """A goal, or a list of goals (``[[a, ?x], [b, ?x]]``) meaning their conjunction."""
        if (
            isinstance(node, SequenceNode)
            and node.value
            and isinstance(node.value[0], SequenceNode)
        ):
            items: list[BodyItem] = []
            for g in node.value:
                items.extend(self.goal(g))
            return tuple(items)
        return tuple(self.goal(node))

    # -- terms

    def term(self, node: Node) -> Term:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            if not node.value:
                raise self.fail(node, "an empty list is not a term (write {list: []})")
            name = self.predicate_name(node.value[0])
            return Struct(name, tuple(self.term(arg) for arg in node.value[1:]))
        assert isinstance(node, MappingNode)
        self.constructor.flatten_mapping(node)
        if (
            len(node.value) == 1
            and isinstance(node.value[0][0], ScalarNode)
            and node.value[0][0].value == "list"
            and isinstance(node.value[0][1], SequenceNode)
        ):
            return tuple(self.term(item) for item in node.value[0][1].value)
        raise self.fail(node, "a mapping in a term must be {list: [...]}")

    def scalar(self, node: ScalarNode) -> Term:
        if node.tag == _STR_TAG:
            value: str = node.value
            if value.startswith("?"):
                v = self.vars.get(value)
                if v is None:
                    v = self.vars[value] = Var(value)
                return v
            if value == "_":
                return Var("_")
            return _intern(value)
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as e:
            raise self.fail(node, f"unsupported value {node.value!r}: {e}") from None
        if value is None:
            return "null"
        if isinstance(value, datetime.date):  # also datetime
            return value.isoformat()
        if isinstance(value, bool | int | float | str):
            return value
        raise self.fail(node, f"unsupported value {node.value!r} ({node.tag})")


def parse_yaml(text: str, source: str = "<input>") -> list[ProgramItem]:
    """Parse a YAML policy file (facts and rules) into program items."""
    return _YamlReader(text, source).program()


# --- JSON facts -----------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The offset of the first non-whitespace character at or after pos."""
    m = _WS.match(text, pos)
    return m.end() if m is not None else pos


class _JsonWalk(Exception):
    """The text is not shaped as expected: let json.loads name the problem."""


class _JsonFactsReader:
    """Walks the top-level object by hand, decoding each fact with the C decoder.

    json.loads alone cannot say where each fact was, and explanations cite facts by line.
    Any irregularity raises json.JSONDecodeError or _JsonWalk; the caller then asks
    json.loads for the message.
    """

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.src = _Source(text, source)
        self.decode = json.JSONDecoder().raw_decode
        self.sink = _FactSink(source)
        self.errors: list[PolicySyntaxError] = []
        self.line = 1
        self.last = 0  # offset up to which newlines are counted into self.line

    def read(self) -> list[ProgramItem]:
        text, decode = self.text, self.decode
        pos = _skip(text, 0)
        if text[pos : pos + 1] != "{":
            raise _JsonWalk
        pos = _skip(text, pos + 1)
        if text[pos : pos + 1] == "}":
            pos += 1
        else:
            while True:
                if text[pos : pos + 1] != '"':
                    raise _JsonWalk
                key, pos = decode(text, pos)
                pos = _skip(text, pos)
                if text[pos : pos + 1] != ":":
                    raise _JsonWalk
                pos = _skip(text, pos + 1)
                if key == "facts":
                    pos = self.facts(pos)
                else:
                    _, pos = decode(text, pos)  # other keys are ignored
                pos = _skip(text, pos)
                ch = text[pos : pos + 1]
                pos += 1
                if ch == "}":
                    break
                if ch != ",":
                    raise _JsonWalk
                pos = _skip(text, pos)
        if _skip(text, pos) != len(text):
            raise _JsonWalk
        _raise_errors(self.errors)
        return self.sink.items

    def facts(self, pos: int) -> int:
        text, decode = self.text, self.decode
        self.sink = _FactSink(self.src.source)  # a repeated key replaces, as in json.loads
        if text[pos : pos + 1] != "[":
            value, end = decode(text, pos)
            if value is not None:  # null means no facts
                line, col = self.where(pos)
                self.errors.append(self.src.error(line, col, "facts must be a list"))
            return end
        pos = _skip(text, pos + 1)
        if text[pos : pos + 1] == "]":
            return pos + 1
        while True:
            value, end = decode(text, pos)
            self.fact(value, pos)
            # the common layouts ("[...],\n" and "[...], ") need no regex
            ch = text[end : end + 1]
            if ch != "," and ch != "]":
                end = _skip(text, end)
                ch = text[end : end + 1]
            if ch == "]":
                return end + 1
            if ch != ",":
                raise _JsonWalk
            pos = _skip(text, end + 1)

    def where(self, offset: int) -> tuple[int, int]:
        self.line += self.text.count("\n", self.last, offset)
        self.last = offset
        return self.line, offset - self.text.rfind("\n", 0, offset)

    def fact(self, value: Any, offset: int) -> None:
        self.line += self.text.count("\n", self.last, offset)
        self.last = offset
        if type(value) is list and value and type(value[0]) is str:
            args = tuple([_intern(a) if type(a) is str else from_json(a) for a in value[1:]])
            self.sink.add(_intern(value[0]), args, self.line, 0)
            return
        line, col = self.where(offset)
        if type(value) is not list or not value:
            message = "a fact must be a non-empty list [predicate, args...]"
        else:
            message = f"predicate name must be a string, not {json.dumps(value[0])}"
        self.errors.append(self.src.error(line, col, message))


def parse_json_facts(text: str, source: str = "<input>") -> list[ProgramItem]:
    """Parse a JSON facts file, ``{"facts": [["role", "alice", "admin"], ...]}``."""
    try:
        return _JsonFactsReader(text, source).read()
    except RecursionError:
        raise _Source(text, source).error(1, 1, "invalid json: nested too deeply") from None
    except (json.JSONDecodeError, _JsonWalk):
        src = _Source(text, source)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise src.error(e.lineno, e.colno, f"invalid json: {e.msg}") from None
        if not isinstance(data, dict):
            raise src.error(1, 1, "top level must be an object with 'facts'") from None
        raise  # valid JSON that the walk could not follow: a bug here, not in the file
