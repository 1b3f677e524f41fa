"""Real PostgreSQL for verification and migration: where a server comes from, scratch databases, replays, diffs."""
