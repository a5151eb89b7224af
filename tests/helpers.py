"""Helpers for our own tests only (users' helpers are in auth0_drf.testing): hand-written responses, polling."""

from __future__ import annotations

import io
import time
from collections.abc import Callable


class RawResponse:
    """A response written by hand: ``writer(wfile)`` sends the status line, headers and body.

    Lets tests stall, trickle, lie about lengths or stop mid-way, as broken servers do (a
    ``HandWrittenResponse`` for ``LoopbackServer``).
    """

    def __init__(self, writer: Callable[[io.BufferedIOBase], None]) -> None:
        self.writer = writer

    def write_to(self, wfile: io.BufferedIOBase) -> None:
        self.writer(wfile)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
