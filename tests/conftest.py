"""Suite-wide: the parsed-catalog cache (pipeline/doccache.py) of every test, and of every
shipway the tests start, goes to a directory of the run's own, removed at the end, not to
~/.cache/shipway."""
import os
import shutil
import tempfile

CACHE = tempfile.mkdtemp(prefix="shipway-test-cache-")
os.environ["SHIPWAY_CACHE_DIR"] = CACHE


def pytest_unconfigure(config):
    shutil.rmtree(CACHE, ignore_errors=True)
