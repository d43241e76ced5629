"""Verdicts for drill checks: pass, fail, or could-not-verify — never a silent pass.

A check that cannot run (missing credentials, unreachable store, missing tool) raises
:class:`CouldNotVerify`. The pytest plugin turns that into a *failed* test report carrying the
``could-not-verify`` verdict, so neither pytest's exit code nor JUnit ever counts it as a pass;
only ``--drill-allow-unverified`` turns it into a skip.
"""

from __future__ import annotations

from typing import NoReturn


class CouldNotVerify(Exception):
    """Raised by a check that could not be carried out; the reason says why and what to do."""

    def __init__(self, reason: str, *, remedy: str | None = None) -> None:
        self.reason = reason
        self.remedy = remedy
        super().__init__(reason + (f" — {remedy}" if remedy else ""))


def could_not_verify(reason: str, *, remedy: str | None = None) -> NoReturn:
    """Stop the current check with a could-not-verify verdict."""
    raise CouldNotVerify(reason, remedy=remedy)
