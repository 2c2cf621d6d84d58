"""Jinja2 templates shipped as package data (pipeline.templates)."""
