"""No secret in any output: redaction before writing and a scan of every artefact after."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.config import resolve
from harness.evidence.leaks import Redactor, redact_text, scan_for_secrets, secret_forms
from harness.evidence.reports import write_reports
from tests.sample_record import sample_record

ADMIN_PASSWORD = "Adm1n-p@ss/w0rd+fake"
MASTER_KEY = bytes(range(7, 39))  # 32 bytes, like Dapr's AES-256 key
DSN_PASSWORD = "dsn-s3cr3t/with?chars"


def test_forms_cover_raw_escaped_urlencoded_base64_and_hex() -> None:
    forms = secret_forms(ADMIN_PASSWORD)
    assert forms["raw"] == ADMIN_PASSWORD.encode()
    assert forms["url-encoded"] == quote(ADMIN_PASSWORD, safe="").encode()
    assert base64.b64encode(ADMIN_PASSWORD.encode()).rstrip(b"=") in forms.values()
    assert forms["hex"] == ADMIN_PASSWORD.encode().hex().encode()


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"prefix-of-seven"])
def test_base64_of_a_secret_inside_a_longer_value_is_found(tmp_path: Path, prefix: bytes) -> None:
    blob = base64.b64encode(prefix + MASTER_KEY + b"trailing data")
    path = tmp_path / "x.txt"
    path.write_bytes(b"key material: " + blob)
    findings = scan_for_secrets(path, {"master key": MASTER_KEY})
    assert findings and findings[0].label == "master key"
    assert "master key" in str(findings[0]) and MASTER_KEY.hex() not in str(findings[0])


def test_redactor_masks_secrets_and_url_and_keyword_passwords() -> None:
    text = (f"connect postgresql://postgres:{quote(DSN_PASSWORD, safe='')}@127.0.0.1:5432/auth "
            f"failed; host=x password={ADMIN_PASSWORD} key={base64.b64encode(MASTER_KEY).decode()}"
            f" also mysql://root:other-pw@h/db")
    out = redact_text(text, [ADMIN_PASSWORD, DSN_PASSWORD, MASTER_KEY])
    for secret in (quote(DSN_PASSWORD, safe=""), ADMIN_PASSWORD,
                   base64.b64encode(MASTER_KEY).decode(), "other-pw"):
        assert secret not in out
    assert "postgresql://postgres:***@127.0.0.1:5432/auth" in out


def test_short_secrets_cannot_be_scanned_silently(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too short"):
        scan_for_secrets(tmp_path, {"pin": "1234"})


def test_redactor_walks_nested_records() -> None:
    record = sample_record(failing=True)
    record.checks[0].measured["dsn"] = f"postgresql://u:{DSN_PASSWORD}@h/db"
    record.notes.append(f"admin password was {ADMIN_PASSWORD}")
    clean = Redactor([ADMIN_PASSWORD, DSN_PASSWORD]).value(record)
    dumped = json.dumps(clean.to_dict())
    assert DSN_PASSWORD not in dumped and ADMIN_PASSWORD not in dumped
    assert ADMIN_PASSWORD in json.dumps(record.to_dict())  # the original is untouched


def test_a_run_with_known_secrets_leaks_none_of_them(tmp_path: Path) -> None:
    """Secrets put into the configuration and into check messages are redacted out of all
    artefacts; the scan proves it, and would have caught them without redaction."""
    env = {"SCRYDON_DRILL_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "SCRYDON_DRILL_EVIDENCE_SIGN_KEY": base64.b64encode(MASTER_KEY).decode()}
    cfg = resolve(environ=env)
    record = sample_record(failing=True)
    record.config = cfg.redacted()
    record.checks[1].message += (f" (tried postgresql://postgres:{quote(DSN_PASSWORD, safe='')}"
                                 f"@10.0.0.5/auth with admin password {ADMIN_PASSWORD})")
    record.checks[2].measured["key"] = base64.b64encode(MASTER_KEY).decode()
    secrets = {"admin password": ADMIN_PASSWORD, "master key": MASTER_KEY,
               "dsn password": DSN_PASSWORD}
    assert set(cfg.secret_values()) >= {ADMIN_PASSWORD}

    unsafe = tmp_path / "unsafe"
    write_reports(record, unsafe)
    found = {f.label for f in scan_for_secrets(unsafe, secrets)}
    assert found == {"admin password", "master key", "dsn password"}  # the scan has teeth

    safe = tmp_path / "safe"
    clean = Redactor([*secrets.values(), *cfg.secret_values()]).value(record)
    write_reports(clean, safe)
    assert sorted(os.listdir(safe)) == sorted(["evidence.json", "junit.xml", "report.html",
                                               "summary.md", "metrics.prom", "manifest.json"])
    assert scan_for_secrets(safe, secrets) == []
    evidence = json.loads((safe / "evidence.json").read_text())
    assert evidence["config"]["admin"]["password"] == "***"
    assert evidence["config"]["evidence"]["sign_key"] == "***"


def test_a_piece_of_eight_characters_of_a_key_is_a_leak(tmp_path: Path) -> None:
    data_line = base64.b64encode(base64.b64encode(MASTER_KEY)).decode()  # the Secret's data
    token = "Tq3vX9pLm2ZrW8kYd4Hs"  # a generated password
    for secret, piece in ((MASTER_KEY, base64.b64encode(MASTER_KEY)[5:13]),
                          (MASTER_KEY, MASTER_KEY.hex()[10:18].encode()),
                          (data_line, data_line[0:8].encode()),
                          (token, token[4:12].encode())):
        path = tmp_path / "report.txt"
        path.write_bytes(b"yaml error near: " + piece + b" (line 3)")
        found = scan_for_secrets(path, {"secret": secret})
        assert found and found[0].form == "a 8-character piece", (secret, piece)
        assert piece not in Redactor([secret]).text(path.read_text()).encode()
    path = tmp_path / "report.txt"
    path.write_bytes(b"token prefix " + token[4:11].encode())  # 7 characters: not a leak
    assert scan_for_secrets(path, {"secret": token}) == []


def test_words_of_a_word_password_are_not_mistaken_for_a_leak(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_bytes(b"the evidence was written; secret-key rotation is documented")
    assert scan_for_secrets(path, {"s3": "evidence-secret-key-1"}) == []
    path.write_bytes(b"value " + base64.b64encode(b"evidence-secret-key-1")[4:12])
    assert scan_for_secrets(path, {"s3": "evidence-secret-key-1"})  # encoded pieces count
