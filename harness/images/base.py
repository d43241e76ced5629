"""The Debian base image: ``debootstrap --variant=minbase`` and ``docker import``.

No registry is needed: debootstrap fetches packages from the Debian mirror this machine's apt
uses (:mod:`harness.images.aptsources`). The root filesystem gets the machine's mirror (and
the apt options a snapshot mirror needs) as its apt sources, so that builds ``FROM`` it
install from the same place.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.images.aptsources import AptSource, carried_apt_options, debian_sources
from harness.images.engine import Engine
from harness.images.errors import ImageBuildFailed, ImageInputMissing
from harness.images.recipes import (
    IMAGE_LABEL,
    RECIPE_LABEL,
    UPSTREAM_LABEL,
    ImageRecipe,
    recipe_hash,
)
from harness.images.workdir import remove_tree, tail

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BaseSpec:
    """Everything the base image depends on besides its recipe files."""

    suite: str
    variant: str
    strip: tuple[str, ...]
    changes: tuple[str, ...]
    sources: tuple[AptSource, ...]
    apt_options: tuple[tuple[str, str], ...]
    debootstrap: str

    @property
    def mirror(self) -> str:
        """The archive debootstrap fetches from."""
        return self.sources[0].uri

    def sources_list(self) -> str:
        """The image's ``/etc/apt/sources.list``."""
        return "".join(f"{s.line()}\n" for s in self.sources)

    def apt_conf(self) -> str:
        """The machine's carried apt options, as an apt.conf fragment ('' when none)."""
        return "".join(f'{key} "{value}";\n' for key, value in self.apt_options)


def _debootstrap() -> str:
    # debootstrap lives in /usr/sbin, which a non-login root shell may not have on PATH.
    search = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    exe = shutil.which("debootstrap", path=search)
    if not exe:
        raise ImageInputMissing("debootstrap is not installed (it makes the Debian base image)",
                                remedy="apt-get install -y debootstrap")
    return exe


def _debootstrap_version() -> str:
    _debootstrap()
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "debootstrap"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return out or "unknown"


def base_spec(recipe: ImageRecipe) -> BaseSpec:
    """Read ``base.toml`` and this machine's apt configuration."""
    conf = tomllib.loads((recipe.directory / "base.toml").read_text())
    suite = str(conf["suite"])
    return BaseSpec(
        suite=suite, variant=str(conf["variant"]),
        strip=tuple(conf.get("strip", ())), changes=tuple(conf.get("changes", ())),
        sources=tuple(debian_sources(suite)),
        apt_options=tuple(sorted(carried_apt_options().items())),
        debootstrap=_debootstrap_version(),
    )


def base_hash(recipe: ImageRecipe, spec: BaseSpec) -> str:
    """The base recipe's hash: its files, the apt sources and options, debootstrap's version."""
    return recipe_hash(recipe.name, recipe.directory, fields={
        "sources": spec.sources_list(), "apt-options": spec.apt_conf(),
        "debootstrap": spec.debootstrap, "upstream": recipe.upstream,
    })


def _configure_rootfs(rootfs: Path, recipe: ImageRecipe, spec: BaseSpec) -> None:
    overlay = recipe.directory / "rootfs"
    if overlay.is_dir():
        shutil.copytree(overlay, rootfs, dirs_exist_ok=True)
    (rootfs / "etc/apt/sources.list").write_text(spec.sources_list())
    if spec.apt_conf():
        (rootfs / "etc/apt/apt.conf.d/91scrydon-drill-machine").write_text(
            "// Carried over from the machine that built this image (its mirror needs them).\n"
            + spec.apt_conf())
    for pattern in spec.strip:
        for hit in glob.glob(str(rootfs / pattern), include_hidden=True):
            path = Path(hit)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def build_base(engine: Engine, recipe: ImageRecipe, spec: BaseSpec, digest: str,
               progress: Progress) -> str:
    """Bootstrap, configure and import the base image; return its image id."""
    if os.geteuid() != 0:
        raise ImageBuildFailed("building the base image needs root (debootstrap chroots and "
                               "creates device nodes)", remedy="run the build as root")
    work = Path(tempfile.mkdtemp(prefix="scrydon-drill-base-"))
    try:
        rootfs, log = work / "rootfs", work / "debootstrap.log"
        progress(f"base: debootstrap --variant={spec.variant} {spec.suite} from {spec.mirror}")
        started = time.monotonic()
        with log.open("wb") as fh:
            proc = subprocess.run(
                [_debootstrap(), f"--variant={spec.variant}", spec.suite, str(rootfs),
                 spec.mirror],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
                env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"))
        if proc.returncode != 0:
            raise ImageBuildFailed(f"debootstrap failed with exit code {proc.returncode}",
                                   path=spec.mirror, detail=tail(log),
                                   remedy="check that this machine reaches the mirror "
                                          "(apt-get update) and has free disk space")
        progress(f"base: debootstrap took {time.monotonic() - started:.1f} s")
        _configure_rootfs(rootfs, recipe, spec)
        tarball = work / "rootfs.tar"
        # GNU tar keeps what a root filesystem needs: numeric owners, hard links, xattrs
        # (file capabilities), special permission bits.
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C",
                        str(rootfs), "-cf", str(tarball), "."], check=True,
                       capture_output=True)
        tag = recipe.tag(digest)
        changes = [*spec.changes, f"LABEL {RECIPE_LABEL}={digest}",
                   f"LABEL {IMAGE_LABEL}={recipe.name}",
                   f"LABEL {UPSTREAM_LABEL}={recipe.upstream}"]
        progress(f"base: docker import as {tag}")
        try:
            engine.client.api.import_image_from_file(str(tarball), repository=recipe.repository,
                                                     tag=digest, changes=changes)
        except Exception as exc:  # noqa: BLE001 - SDK and transport errors alike
            raise ImageBuildFailed("docker import of the base root filesystem failed",
                                   path=tag, detail=str(exc),
                                   remedy="check the engine's log and free disk space") from exc
        return str(engine.client.images.get(tag).id)
    finally:
        remove_tree(work)
