"""Evidence of a drill run: the run record and the reports written from it.

record      the run record (the contract between the drill and every writer)
collector   the pytest plugin object: ``drill_check`` marker, ``drill_measure`` /
            ``drill_record`` / ``drill_secret`` fixtures, verdict mapping, writing at the end
reports     writes a report folder: evidence.json, junit.xml, report.html, summary.md,
            metrics.prom (pure renderers in jsonreport, junit, htmlreport, markdown, prom)
controls    compliance mapping (harness/data/controls.toml, extended by the user's file)
manifest    SHA-256 manifest, Ed25519 signature, verification (``verify-evidence``)
leaks       redaction of secrets and the scan of every artefact for them
history     index of past runs (directory or bucket) and the RTO/RPO trend
publish     copy of a report folder to a directory or an S3 bucket, verified
lineage     lineage items for backup files and objects (size, SHA-256)
sample      a made-up but complete record, for previews and tests

Importing this package is cheap; the writers import what they need when called.
"""
