"""One entry point for every policy format: text in, program items out (by file name)."""

from __future__ import annotations

from .ast import ProgramItem

TEXT_SUFFIXES = (".rules",)
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
TEST_SUFFIXES = (".test.yaml", ".test.yml")


def policy_kind(name: str) -> str | None:
    """'rules', 'yaml', 'json', 'test' or None (not a policy file) for a file name."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith(".") or base.endswith(("~", ".swp", ".tmp")):
        return None
    if base.endswith(TEST_SUFFIXES):
        return "test"
    if base.endswith(TEXT_SUFFIXES):
        return "rules"
    if base.endswith(YAML_SUFFIXES):
        return "yaml"
    if base.endswith(JSON_SUFFIXES):
        return "json"
    return None


def parse_source(text: str, source: str, kind: str | None = None) -> list[ProgramItem]:
    """Parse one policy file's text; ``kind`` defaults to what the name's extension says."""
    kind = kind or policy_kind(source) or "rules"
    if kind == "rules":
        from .textsyntax import parse_program

        return parse_program(text, source)
    if kind == "yaml":
        from .yamlsyntax import parse_yaml

        return parse_yaml(text, source)
    if kind == "json":
        from .yamlsyntax import parse_json_facts

        return parse_json_facts(text, source)
    raise ValueError(f"{source}: not a policy file")
