"""`python -m pipeline` is the `shipway` command."""
import sys

from pipeline.cli import main

sys.exit(main())
