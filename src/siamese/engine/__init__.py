"""The pure logic engine: terms, parsers, solver, built-ins, proofs. Standard library only
(PyYAML for the YAML syntax)."""
