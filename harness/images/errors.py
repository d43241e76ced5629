"""Errors of the image builder, each naming what failed and what to do about it."""

from __future__ import annotations

from harness.errors import EXIT_NOT_STARTED, EXIT_USAGE, DrillError


class ImagesError(DrillError):
    """A local image could not be planned, built or inspected (``store="images"``)."""

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "images")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class EngineUnavailable(ImagesError):
    """No Docker engine answers: nothing can be built or run until one is started."""

    exit_code = EXIT_NOT_STARTED


class DockerSdkMissing(ImagesError):
    """The Docker SDK for Python is not installed (an installation fault, not a missing engine)."""

    exit_code = EXIT_NOT_STARTED


class UnknownImage(ImagesError):
    """An image name that has no recipe."""

    exit_code = EXIT_USAGE


class ImageInputMissing(ImagesError):
    """Something an image is made from is not on this machine (a build, a binary, a tool)."""

    exit_code = EXIT_NOT_STARTED


class ImageBuildFailed(ImagesError):
    """debootstrap, the import or the Dockerfile build failed; ``detail`` holds the log tail."""
