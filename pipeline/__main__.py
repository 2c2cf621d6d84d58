"""`python -m pipeline` is the `shipway` command."""
from pipeline.cli import entry

entry()
