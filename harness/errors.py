"""Errors that tell an operator what was checked, what was found and what to do.

Every error the harness raises on purpose derives from :class:`DrillError`. It carries the
store it concerns, the file or object it is about and a remedy, so that a failed drill can be
acted on without reading a traceback.

Each class also says which exit code it means for a pipeline (:data:`EXIT_CODES`): a broken
backup is not an unreachable source, and neither is a mistyped setting.
"""

from __future__ import annotations

from typing import NoReturn

#: The exit codes of ``scrydon-drill`` and of drill runs, for pipelines.
EXIT_PASSED = 0  # every check passed
EXIT_FAILED = 1  # a check failed: the backups (or the restored platform) are not good
EXIT_UNVERIFIED = 2  # nothing failed, but something could not be proven
EXIT_NOT_STARTED = 3  # the drill could not start: source unreachable, tools missing, scratch
EXIT_USAGE = 4  # usage or configuration error
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM: nothing was proven
EXIT_CODES = {
    EXIT_PASSED: "all checks passed",
    EXIT_FAILED: "a check failed",
    EXIT_UNVERIFIED: "could not verify (nothing failed, something could not be proven)",
    EXIT_NOT_STARTED: "the drill could not start (backup source unreachable, tools missing, "
                      "scratch environment failed)",
    EXIT_USAGE: "usage or configuration error",
    EXIT_INTERRUPTED: "interrupted",
}


class DrillError(Exception):
    """A failure the harness understands, with the context an operator needs.

    ``store`` names the store (``postgres``, ``objects``, ``warehouse``, ``master-key``,
    ``scratch``, ``config``), ``path`` the file, object or resource concerned and ``remedy``
    what to do about it. All three are optional but should be given whenever known.
    """

    exit_code: int = EXIT_FAILED

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

    exit_code = EXIT_USAGE

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "config")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ScratchError(DrillError):
    """A scratch environment could not be provisioned, reached or torn down."""

    exit_code = EXIT_NOT_STARTED

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "scratch")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerNotFound(ScratchError):
    """No server binary matching the request is installed."""


class ServerStartError(ScratchError):
    """A server was started but died or did not become ready before its deadline."""


class SourceUnavailable(DrillError):
    """The backup source cannot be read at all (missing folder, no connection, no access)."""

    exit_code = EXIT_NOT_STARTED

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "backup-source")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ToolMissing(DrillError):
    """A program the drill needs is not installed."""

    exit_code = EXIT_NOT_STARTED


class RestoreError(DrillError):
    """A store could not be restored; the message says what and why."""


class CouldNotVerify(DrillError):
    """A check could not be carried out (missing credentials, unreachable store, missing
    tool): the ``could-not-verify`` verdict, never a silent pass.

    The pytest plugin turns it into a *failed* test report, so neither pytest's exit code nor
    JUnit counts it as a pass; only ``--drill-allow-unverified`` turns it into a skip.
    """

    exit_code = EXIT_UNVERIFIED

    def __init__(self, reason: str, *, remedy: str | None = None) -> None:
        super().__init__(reason, remedy=remedy)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason + (f" — {self.remedy}" if self.remedy else "")


def could_not_verify(reason: str, *, remedy: str | None = None) -> NoReturn:
    """Stop the current check with a could-not-verify verdict."""
    raise CouldNotVerify(reason, remedy=remedy)
