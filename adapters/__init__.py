"""Adapters to systems outside this service: payment providers (and later Mycelium, email).

Shared by the gateway, which starts checkouts and verifies webhooks, and the actors,
which re-query providers before crediting. Nothing here touches the database.
"""
