"""Errors that tell an operator what was checked, what was found and what to do.

Every error the harness raises on purpose derives from :class:`DrillError`. It carries the
store it concerns, the file or object it is about and a remedy, so that a failed drill can be
acted on without reading a traceback.
"""

from __future__ import annotations


class DrillError(Exception):
    """A failure the harness understands, with the context an operator needs.

    ``store`` names the store (``postgres``, ``objects``, ``warehouse``, ``master-key``,
    ``scratch``, ``config``), ``path`` the file, object or resource concerned and ``remedy``
    what to do about it. All three are optional but should be given whenever known.
    """

    def __init__(
        self,
        message: str,
        *,
        store: str | None = None,
        path: str | None = None,
        remedy: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.message = message
        self.store = store
        self.path = path
        self.remedy = remedy
        self.detail = detail
        super().__init__(message)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        """Return the full, multi-line explanation of the error."""
        head = f"[{self.store}] " if self.store else ""
        lines = [f"{head}{self.message}"]
        if self.path:
            lines.append(f"  concerning: {self.path}")
        if self.remedy:
            lines.append(f"  what to do: {self.remedy}")
        if self.detail:
            lines.append("  detail:")
            lines.extend(f"    {line}" for line in self.detail.rstrip().splitlines())
        return "\n".join(lines)


class ConfigError(DrillError):
    """The drill configuration is invalid (unknown key, bad value, missing file)."""

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "config")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ScratchError(DrillError):
    """A scratch environment could not be provisioned, reached or torn down."""

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "scratch")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerNotFound(ScratchError):
    """No server binary matching the request is installed."""


class ServerStartError(ScratchError):
    """A server was started but died or did not become ready before its deadline."""
