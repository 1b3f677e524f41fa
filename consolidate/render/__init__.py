"""Rendering: jinja2 templates and the lock file turned into the canonical tree's text, deterministically."""
