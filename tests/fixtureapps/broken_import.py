"""Importing this module fails: the loader must let the ImportError through (worker exit code 3)."""

import monoceros_no_such_module_for_tests  # noqa: F401

application = None
