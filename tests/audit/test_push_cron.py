"""The documented cron line, end to end: this machine's own probe output, piped into curl."""

import shutil
import subprocess

import pytest

from fleet.models import Audit
from fleet.probe_script import PROBE_SCRIPT
from tests import factories

CRON_PIPELINE = (
    'sh "$PROBE" 2>/dev/null | curl -fsS --max-time 60 -H "Authorization: Bearer $(cat "$TOKEN")" '
    "-H 'Content-Type: text/plain' --data-binary @- \"$URL/api/v1/hosts/$(hostname)/probe\""
)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
@pytest.mark.django_db(transaction=True)
def test_it_ingests_what_the_cron_line_sends(live_server, tmp_path):
    name = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    host = factories.host(name, address="127.0.0.1")
    token = host.new_ingest_token()
    host.save()
    (tmp_path / "probe.sh").write_text(PROBE_SCRIPT)
    (tmp_path / "token").write_text(token + "\n")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "PROBE": str(tmp_path / "probe.sh"),
        "TOKEN": str(tmp_path / "token"),
        "URL": live_server.url,
    }

    done = subprocess.run(["sh", "-c", CRON_PIPELINE], env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert '"outcome"' in done.stdout
    audit = Audit.objects.get(host=host)
    assert audit.source == Audit.Source.PUSH and audit.outcome in ("ok", "partial")
    host.refresh_from_db()
    uname = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    assert host.booted_kernel == uname
