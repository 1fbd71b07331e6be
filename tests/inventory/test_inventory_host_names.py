"""Host names and addresses: RFC 1123 plus what Ansible inventories hold; never a leading `-`."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from fleet.hostnames import host_name_problem, validate_address, validate_host_name
from fleet.inventory import InventoryError, import_text, read_inventory
from fleet.models import Host

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "inventory"

GOOD = [
    "web01",
    "web-01.example.com",
    "db_primary",  # Ansible inventories are full of underscores
    "_srv",
    "WEB01.Example.COM",
    "host.example.com.",  # an absolute name
    "10.25.1.56",
    "2001:db8::1",
    "a" * 63 + ".example",
]
BAD = [
    "evil/slash",
    "-oProxyCommand=touch_x",
    "-",
    "web..example",
    ".web",
    "web-",
    "a" * 64,
    "x" * 254,
    "tab\there",
    "nul\x00",
    "ünï",
    "web;rm",
    "",
]


@pytest.mark.parametrize("name", GOOD)
def test_it_accepts_real_world_names(name):
    validate_host_name(name)
    validate_address(name)


@pytest.mark.parametrize("name", BAD)
def test_it_refuses_names_that_break_urls_or_shells(name):
    with pytest.raises(ValidationError):
        validate_host_name(name)


def test_it_says_why_a_leading_dash_is_refused():
    assert "option" in host_name_problem("-oProxyCommand=x")


def test_it_accepts_every_host_of_the_sample_inventories():
    for path in SAMPLES.iterdir():
        if path.suffix == ".source" or path.name.startswith("kubespray"):
            continue  # kubespray's sample lists hosts in one string; refused for that
        inventory = read_inventory(path.read_text(), path.name)
        assert inventory.hosts, path.name


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[web]\nevil/slash\n", 2, "not a valid host name"),
        ("[web]\n-oProxyCommand=x\n", 2, "cannot start with '-'"),
        ("[web]\nweb01 ansible_host=-oProxyCommand=x\n", 2, "ansible_host"),
        ("[web]\nweb01 ansible_host=evil/host\n", 2, "not a valid address"),
        ("[web]\nweb01 ansible_user=-F/tmp/x\n", 2, "no leading '-'"),
        ("[web]\nweb01 rebootable_bastion=-J\n", 2, "no leading '-'"),
    ],
)
def test_the_importer_refuses_bad_names_and_addresses_with_their_line(text, line, words):
    with pytest.raises(InventoryError) as caught:
        read_inventory(text, "hosts.ini")
    assert caught.value.line == line
    assert words in str(caught.value)


@pytest.mark.django_db
def test_the_admin_form_validates_the_same_rules():
    host = Host(name="evil/slash", address="-oProxyCommand=x")
    with pytest.raises(ValidationError) as caught:
        host.full_clean()
    assert {"name", "address"} <= set(caught.value.message_dict)


@pytest.mark.django_db
def test_it_imports_names_with_underscores_and_ip_addresses():
    result = import_text(
        "[db]\ndb_primary ansible_host=10.0.0.5\n10.0.0.6\n", "hosts.ini", prune=False, actor=None
    )
    assert sorted(result.created) == ["10.0.0.6", "db_primary"]
