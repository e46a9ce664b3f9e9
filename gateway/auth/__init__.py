"""Login and sessions: the challenge rules, sessions and CSRF, rate limits, the Mycelium watcher.

The gateway writes only these rows itself (``LoginChallenge`` and ``Session``).
"""
