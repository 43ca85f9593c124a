"""Fixtures of the service tests: a real uvicorn server on a free loopback port.

``uvicorn(env)`` is a context manager that starts ``uvicorn api.main:app`` with ``env`` added to
the environment, waits for ``/health``, yields a :class:`Server`, and on leaving stops the server
and checks that its log holds no traceback (:mod:`tests.liveserver`, shared with the page's
tests).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.liveserver import Server, running
from tests.liveserver import free_port as _free_port

__all__ = ["Server", "Uvicorn", "running_server"]

Uvicorn = Callable[..., AbstractContextManager[Server]]
"""The type of the ``uvicorn`` fixture."""

running_server = running
"""uvicorn with ``workers`` processes and ``env`` added to the environment
(:func:`tests.liveserver.running`)."""


@pytest.fixture(scope="session")
def uvicorn() -> Uvicorn:
    """:func:`running_server`: ``with uvicorn({"CNNCALC_WORKERS": "1"}) as server: ...``."""
    return running_server


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on now."""
    return _free_port()
