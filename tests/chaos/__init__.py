"""The chaos run: the production shape as real processes, seeded faults, an independent oracle.

``python -m tests.chaos`` (``make chaos``) runs the full size; ``CHAOS_SEED`` replays a run;
``tests/integration/test_chaos_short.py`` runs a short one in the test suite.
"""
