"""The runtime: how the product's processes are put together and kept running.

``bootstrap`` is the composition root (settings in, database, broker and dependencies
out); ``gateway`` serves the web app; ``supervisor`` runs workers and their siblings;
``scheduler``, ``bridge`` and ``credit_publisher`` are the long-running loops; ``wsgi``
is the entry for any WSGI server. Command lines in ``cli`` parse arguments and call here.
"""
