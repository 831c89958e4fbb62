"""Fixtures of the monitor tests: live ligier + monitor processes on free ports."""

from __future__ import annotations

import pytest
from monitor_helpers import Live


@pytest.fixture
def live():
    """``live(*monitor_args, token=None)`` starts a ligier and a monitor; both stop after."""
    made: list[Live] = []

    def make(*args: str, token: str | None = None) -> Live:
        made.append(Live(*args, token=token))
        return made[-1]

    yield make
    for one in made:
        one.close()
