"""The containers provider's settings and command line, without a Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli
from harness.config import resolve
from harness.errors import ConfigError, ScratchError
from harness.registry import check_available, provider_names
from harness.scratch.containers import ContainersProvider
from harness.scratch.run import Run
from harness.scratch.storespec import extra_env


def test_containers_is_a_registered_provider_with_its_extra() -> None:
    assert "containers" in provider_names()
    assert check_available("containers").extra == "containers"


def test_the_containers_section_is_validated() -> None:
    cfg = resolve(environ={}, arguments={"containers": {"pull": "never", "cpus": "1.5",
                                                        "memory": "2g"}})
    assert cfg.containers.pull == "never" and cfg.containers.cpus == 1.5
    with pytest.raises(ConfigError) as info:
        resolve(environ={}, arguments={"containers": {"pull": "sometimes"}})
    assert "sometimes" in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve(environ={}, arguments={"containers": {"postgres_imag": "x"}})
    assert "postgres_image" in info.value.render()  # did you mean


def test_extra_environment_must_be_key_value(tmp_path: Path) -> None:
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(tmp_path)},
                                         "containers": {"env": "A=1, B = two,C="}})
    assert extra_env(cfg) == {"A": "1", "B": " two", "C": ""}
    bad = resolve(environ={}, arguments={"scratch": {"root": str(tmp_path)},
                                         "containers": {"env": "A=1,JUSTAKEY"}})
    with pytest.raises(ScratchError) as info:
        extra_env(bad)
    assert "'JUSTAKEY' is not KEY=VALUE" in info.value.render()


def test_labels_name_the_run_and_the_owner(tmp_path: Path) -> None:
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(tmp_path)}})
    run = Run.create(tmp_path)
    labels = ContainersProvider(cfg, run).labels("postgres")
    assert labels["io.scrydon-drill.run"] == run.run_id
    assert labels["io.scrydon-drill.store"] == "postgres"
    assert ContainersProvider.owns(labels, {run.run_id})
    assert not ContainersProvider.owns(labels, {"another-run"})
    assert not ContainersProvider.owns({}, {run.run_id})


def test_images_build_with_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    assert cli.main(["images", "build", "bogus"]) == 4
    err = capsys.readouterr().err
    assert "no recipe for bogus" in err and "base, postgres, seaweedfs, mariadb" in err


def test_drill_and_demo_take_a_scratch_provider() -> None:
    args = cli.build_parser().parse_args(["drill", "--scratch", "containers"])
    assert "scratch.provider=containers" in cli.drill_pytest_args(args)
    args = cli.build_parser().parse_args(["demo", "--scratch", "containers"])
    assert cli.config_from_args(args).scratch.provider == "containers"
