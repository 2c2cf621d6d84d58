"""Thin Engine API layer under shipway's domain code (the docker-py `api/` idea)."""
