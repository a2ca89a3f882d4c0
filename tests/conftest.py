import pytest

import oncologic.backends
from support import shipped_kb


@pytest.fixture(scope="session")
def kb():
    """The shipped knowledge base, loaded once (on the default backend)."""
    return shipped_kb()


@pytest.fixture(scope="session", params=oncologic.backends.available())
def backend_kb(request):
    """The shipped knowledge base on each registered backend in turn: the tests that take it
    (the oracle, faithfulness and isolation tests) test every backend."""
    kb = shipped_kb(request.param)
    assert kb.backend.name == request.param
    return kb
