"""The EAPI simulator for tests: a real HTTP server on 127.0.0.1 (port 0), and a client for it.

Use the context manager anywhere:

    with running_simulator(script="40,0") as sim:
        client = client_for(sim, read_timeout=0.5)
        ...
        assert len(sim.processed) == 1

or the fixtures `simulator` (a started `SimulatorServer` that accepts SIM_USERNAME/SIM_PASSWORD)
and `eapi_client` (an `EapiClient` for it with short timeouts). Import them in a conftest.py
(`from tests.eapi_fixtures import eapi_client, simulator  # noqa: F401`): imported straight into
a test module, ruff reports the test's parameter as F811.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.config import Secret
from bot.eapi.client import EapiClient
from bot.eapi.simulator.server import SimulatorServer

SIM_USERNAME = "sim-user"
SIM_PASSWORD = "sim-password-Zq8wX3"  # distinctive, so a leak is easy to find in logs


@contextmanager
def running_simulator(**options: Any) -> Iterator[SimulatorServer]:
    """A started simulator on 127.0.0.1:0 (SimulatorServer keyword options), stopped on exit."""
    options.setdefault("username", SIM_USERNAME)
    options.setdefault("password", SIM_PASSWORD)
    server = SimulatorServer("127.0.0.1", 0, **options).start()
    try:
        yield server
    finally:
        server.stop()


def client_for(
    server: SimulatorServer,
    *,
    username: str = SIM_USERNAME,
    password: str = SIM_PASSWORD,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> EapiClient:
    """An EapiClient pointed at the simulator, with timeouts short enough for tests."""
    return EapiClient(
        server.url,
        username,
        Secret(password),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A started simulator accepting SIM_USERNAME / SIM_PASSWORD."""
    with running_simulator() as server:
        yield server


@pytest.fixture
def eapi_client(simulator: SimulatorServer) -> Iterator[EapiClient]:
    """A client for the `simulator` fixture, closed after the test."""
    client = client_for(simulator)
    try:
        yield client
    finally:
        client.close()
