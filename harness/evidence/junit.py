"""junit.xml for CI: one test case per check; could-not-verify is an error, never a pass.

With ``allow_unverified`` a could-not-verify check is reported as skipped (still not a pass).
A run without checks, and problems of the run itself (publishing, leaks), become error cases,
so a CI that only reads JUnit cannot mistake them for success.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.evidence.views import duration_seconds, fmt_measured, verdict_of
from harness.records import RunRecord


def render_junit(record: RunRecord) -> str:
    """The JUnit XML text of a run."""
    suite_name = f"scrydon-drill.{record.kind}"
    cases: list[ET.Element] = []
    failures = errors = skipped = 0

    for check in record.checks:
        case = ET.Element("testcase", {
            "classname": f"{suite_name}.{check.id.split('.', 1)[0]}",
            "name": check.id,
            "time": f"{check.seconds:.3f}",
        })
        body = "\n".join(x for x in (
            check.title, check.message,
            f"measured: {fmt_measured(check.measured)}" if check.measured else "",
            f"controls: {', '.join(check.controls)}" if check.controls else "",
            f"pytest: {check.nodeid}" if check.nodeid else "") if x)
        if check.verdict == "fail":
            failures += 1
            ET.SubElement(case, "failure", {"type": "fail", "message": check.message}).text = body
        elif check.verdict == "could-not-verify":
            if record.allow_unverified:
                skipped += 1
                ET.SubElement(case, "skipped", {
                    "type": "could-not-verify",
                    "message": f"could not verify (accepted by allow_unverified): "
                               f"{check.message}"}).text = body
            else:
                errors += 1
                ET.SubElement(case, "error", {
                    "type": "could-not-verify",
                    "message": f"could not verify: {check.message}"}).text = body
        else:
            ET.SubElement(case, "system-out").text = body
        props = ET.SubElement(case, "properties")
        for key, value in check.measured.items():
            ET.SubElement(props, "property", {"name": f"measured.{key}", "value": str(value)})
        for control in check.controls:
            ET.SubElement(props, "property", {"name": "control", "value": control})
        if not len(props):
            case.remove(props)
        cases.append(case)

    if not record.checks:
        errors += 1
        case = ET.Element("testcase", {"classname": suite_name, "name": "drill.checks",
                                       "time": "0"})
        ET.SubElement(case, "error", {
            "type": "could-not-verify",
            "message": "no drill check ran: nothing was verified"}).text = (
            "The run recorded no check. Run the drill suite (tests marked "
            "@pytest.mark.drill_check) and look at the collection output.")
        cases.append(case)
    for i, problem in enumerate(record.run_errors, 1):
        errors += 1
        case = ET.Element("testcase", {"classname": f"{suite_name}.run",
                                       "name": f"run.error.{i}", "time": "0"})
        ET.SubElement(case, "error", {"type": "run-error", "message": problem}).text = problem
        cases.append(case)

    total = len(cases)
    seconds = f"{duration_seconds(record) or 0.0:.3f}"
    attrs = {"name": suite_name, "tests": str(total), "failures": str(failures),
             "errors": str(errors), "skipped": str(skipped), "time": seconds}
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", {
        **attrs, "timestamp": record.started_at, "hostname": record.host.get("hostname", "")})
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", record.run_id), ("verdict", verdict_of(record)),
                        ("schema_version", record.schema_version),
                        ("rto_seconds", record.rto_seconds), ("rpo_seconds", record.rpo_seconds)):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": str(value)})
    suite.extend(cases)
    if record.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(record.notes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
