"""A module that fails while it is imported (test_operator.py)."""

raise RuntimeError("broken on purpose")
