"""Fixtures of the ControlHost tests: dispatchers in threads on free 127.0.0.1 ports."""

from __future__ import annotations

import pytest

from km3flow.controlhost.client import Client
from km3flow.controlhost.dispatcher import DispatcherThread


@pytest.fixture
def make_ligier():
    """Start dispatchers (``make_ligier(**options)``); all are stopped after the test."""
    started: list[DispatcherThread] = []

    def make(**options) -> DispatcherThread:
        ligier = DispatcherThread(port=options.pop("port", 0), **options).start()
        started.append(ligier)
        return ligier

    yield make
    for ligier in started:
        ligier.stop()


@pytest.fixture
def ligier(make_ligier) -> DispatcherThread:
    return make_ligier()


@pytest.fixture
def clients():
    """Make clients (``clients(port, **kw)``) that are closed after the test."""
    made: list[Client] = []

    def make(port: int, **kw) -> Client:
        kw.setdefault("reconnect", False)
        client = Client("127.0.0.1", port, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
