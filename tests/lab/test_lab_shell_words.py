"""The lab's reading of a command line: when the script comes on stdin, and the state's text."""

import json
import shlex
from dataclasses import asdict

import pytest

from fleet.probe_script import PROBE_SCRIPT
from lab.generate import generate_host, host_names
from lab.shell import reads_script_from_stdin
from lab.store import StateDir


@pytest.mark.parametrize(
    "command",
    ["sh", "sh -s", "bash -s --", "/bin/dash -eu", "sudo -n sh -s --", "env LC_ALL=C bash -s",
     "exec /bin/sh -x", "FOO='a b' sh -s", "sudo -n -E command sh"],
)  # fmt: skip
def test_a_bare_shell_reads_its_script_from_stdin(command):
    assert reads_script_from_stdin(command)


@pytest.mark.parametrize(
    "command",
    ["", "sudo", "env", "reboot", "sh -c 'true'", "sh -s extra", "bash script.sh",
     "'unbalanced", "sh -s 'unbalanced", "python3 -", PROBE_SCRIPT],
)  # fmt: skip
def test_anything_else_is_the_command_itself(command):
    assert not reads_script_from_stdin(command)


def test_a_long_command_is_ruled_out_at_its_first_word(monkeypatch):
    """The probe arrives as a 12 KB command line: reading every word of it was most of the
    lab's CPU per session. Counted in words read, not in time."""
    read = []
    original = shlex.shlex.__next__

    def counting(self):
        word = original(self)
        read.append(word)
        return word

    monkeypatch.setattr(shlex.shlex, "__next__", counting)
    assert len(shlex.split(PROBE_SCRIPT)) > 500  # what a full split would read
    read.clear()
    assert not reads_script_from_stdin(PROBE_SCRIPT)
    assert len(read) <= 3


def test_a_saved_host_is_the_json_of_its_fields(tmp_path):
    store = StateDir(tmp_path)
    names = host_names(20)
    for index in range(20):
        state = generate_host(3, index, names[index], "127.10.0.0", 2222, 1_790_000_000.0)
        store.save_host(state)
        saved = store.host_path(state.name).read_text()
        assert json.loads(saved) == asdict(state)
    assert [s.to_dict() for s in store.load_hosts()][3]["name"] == names[3]


def test_a_host_is_written_again_only_when_its_state_changed(tmp_path):
    store = StateDir(tmp_path)
    state = generate_host(3, 0, host_names(1)[0], "127.10.0.0", 2222, 1_790_000_000.0)
    path = store.host_path(state.name)
    store.save_host(state)
    first = path.stat().st_ino
    store.save_host(state)  # an audit's probe: nothing changed, nothing written
    assert path.stat().st_ino == first
    state.boots += 1
    store.save_host(state)  # written atomically: a new file replaces the old
    assert path.stat().st_ino != first
    assert json.loads(path.read_text())["boots"] == state.boots
