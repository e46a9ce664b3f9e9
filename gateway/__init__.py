"""The Falcon gateway: pages, webhooks, health. Reads the database, sends messages."""
