"""What a node and the server share on the wire, and nothing else of either.

The OTOML batch codec, Mycelium address derivation, the usage record rules and limits,
the NATS subjects, stream, bucket and header names, the login key proof and key file,
the ``HERO_*`` variable readers both sides parse with, and the log line and stop signal
every process shares. This package imports no other package of the project (an
import-linter contract holds it), so ``hero-node`` and ``hero-login`` load neither
peewee, falcon nor the server's settings.
"""
