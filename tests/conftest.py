import pytest

from support import shipped_kb


@pytest.fixture(scope="session")
def kb():
    """The shipped knowledge base, loaded once."""
    return shipped_kb()
