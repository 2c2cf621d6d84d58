"""shipway: build-step runner and Jenkins companion for Docker Swarm."""

__version__ = "0.1.0"
