"""The provider interface every scratch environment implements.

A provider owns an environment's lifecycle: ``start()`` provisions the stores and waits until
each is ready (cleaning up whatever it started if any part fails), ``endpoints`` says how to
reach them, ``stop()`` removes everything it created and is safe to call twice. Providers for
an *external* environment (a cluster the user already runs) must never delete what they did
not create.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from types import TracebackType

from harness.scratch.endpoints import Endpoints

STORES = ("postgres", "objects", "warehouse")


@dataclass
class Timings:
    """Seconds spent per phase, keyed ``"<store>.<phase>"`` (e.g. ``postgres.ready``)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        """Record (or accumulate) one phase's duration."""
        self.seconds[key] = self.seconds.get(key, 0.0) + value


class ScratchProvider(abc.ABC):
    """Base class of scratch providers (local processes, containers, Kubernetes, external)."""

    #: Registry name (``local``, ``containers``, ...).
    name: str = ""

    def __init__(self) -> None:
        self.timings = Timings()
        self._started = False

    @abc.abstractmethod
    def start(self) -> Endpoints:
        """Provision the stores, wait until ready, return their endpoints.

        On any failure, everything already started is stopped before the error propagates.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Tear down everything this provider created. Idempotent."""

    @property
    @abc.abstractmethod
    def endpoints(self) -> Endpoints:
        """Endpoints of the running environment."""

    def describe(self) -> dict[str, str]:
        """Versions and addresses for the run record (no secrets)."""
        return {}

    def __enter__(self) -> ScratchProvider:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
