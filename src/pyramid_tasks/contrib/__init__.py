"""Integrations with other Pylons projects."""
