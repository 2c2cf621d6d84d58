"""Value checks every schema shares (pipeline/catalog/values.py)."""
import pytest

from pipeline import catalog


@pytest.mark.parametrize("value, text", [
    (1, "1"), (True, "true"), (1.0, "1"), (1.5, "1.5"), (1000000.0, "1e+06"),
    (0.00001, "1e-05"), (12345678.9, "1.23456789e+07"), ("007", "007"),
])
def test_values_read_as_numbers_become_the_text_go_prints(value, text):
    settings = catalog.from_data({"services": {"web": {"image": "r/x",
                                                       "environment": {"V": value}}}})
    assert settings.service("web")["service"]["environment"]["V"] == text
