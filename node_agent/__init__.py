"""The node agent that runs on every Hero host: journal, NATS publisher, git committer."""
