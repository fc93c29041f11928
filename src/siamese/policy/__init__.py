"""Policy sets: a directory of policy files, checked, with a revision."""
