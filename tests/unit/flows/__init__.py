import pytest

# The shared start checks fail with pytest's detailed messages, as assertions in a test do.
pytest.register_assert_rewrite("tests.unit.flows.started")
