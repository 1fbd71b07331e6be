"""The mapping rules of DESIGN.md "Inventory import", and format detection."""

import pytest

from fleet.inventory import InventoryError, detect_format, mapping, read_inventory
from fleet.models import Host, RedundancyGroup


def test_it_makes_redundancy_groups_only_of_groups_that_set_max_unavailable():
    inventory = read_inventory(
        "[web]\nw1\nw2\n[web:vars]\nrebootable_max_unavailable=1\n"
        "[rack1]\nw1\n[rack2]\nw2\n[dc:children]\nrack1\nrack2\n",
        "inventory.ini",
    )
    assert set(inventory.groups) == {"web"}
    assert inventory.groups["web"].members == {"w1", "w2"}
    assert inventory.hosts["w1"].labels == ("group=dc", "group=rack1")


def test_it_does_not_pass_max_unavailable_down_to_child_groups():
    inventory = read_inventory(
        "[eu]\ne1\n[us]\nu1\n[web:children]\neu\nus\n[web:vars]\nrebootable_max_unavailable=50%\n",
        "inventory.ini",
    )
    assert set(inventory.groups) == {"web"}
    assert inventory.groups["web"].members == {"e1", "u1"}
    assert inventory.hosts["e1"].labels == ("group=eu",)


def test_it_never_makes_all_or_ungrouped_a_redundancy_group_and_says_so():
    inventory = read_inventory("u1\n[all:vars]\nrebootable_max_unavailable=1\n", "inventory.ini")
    assert inventory.groups == {}
    assert inventory.hosts["u1"].labels == ()
    assert any('on "all" is ignored' in warning for warning in inventory.warnings)


def test_it_ignores_max_unavailable_on_a_host_with_a_warning():
    inventory = read_inventory("[g]\nh1 rebootable_max_unavailable=1\n", "inventory.ini")
    assert inventory.groups == {}
    assert any("is a group setting" in warning for warning in inventory.warnings)


def test_it_orders_groups_of_the_same_depth_by_priority_then_name():
    text = "[a]\nh1\n[b]\nh1\n[a:vars]\nansible_user=from-a\n[b:vars]\nansible_user=from-b\n"
    assert read_inventory(text, "i.ini").hosts["h1"].ssh_user == "from-b"  # b merges after a
    text += "[a:vars]\nansible_group_priority=10\n"
    assert read_inventory(text, "i.ini").hosts["h1"].ssh_user == "from-a"


def test_it_takes_labels_from_a_mapping_too():
    text = "all:\n  hosts:\n    h1:\n      rebootable_labels: {tier: web, canary: null}\n"
    assert read_inventory(text, "i.yml").hosts["h1"].labels == ("canary=", "tier=web")


def test_it_uses_the_default_user_given_when_the_file_names_none():
    assert read_inventory("h1\n", "i.ini", default_user="admin").hosts["h1"].ssh_user == "admin"


@pytest.mark.parametrize("connection", ["local", "winrm", "network_cli", "docker"])
def test_it_skips_hosts_that_are_not_reached_over_ssh(connection):
    inventory = read_inventory(f"h1 ansible_connection={connection}\nh2\n", "i.ini")
    assert list(inventory.hosts) == ["h2"]
    assert inventory.skipped == ["h1"]


def test_it_refuses_a_redundancy_group_name_longer_than_the_model_allows():
    name = "g" * (mapping.MAX_GROUP_NAME + 1)
    with pytest.raises(InventoryError) as caught:
        read_inventory(f"[{name}]\nh1\n[{name}:vars]\nrebootable_max_unavailable=1\n", "i.ini")
    assert caught.value.line == 1


def test_it_validates_against_the_real_model_field_sizes():
    assert Host._meta.get_field("name").max_length == mapping.MAX_NAME
    assert Host._meta.get_field("address").max_length == mapping.MAX_ADDRESS
    assert Host._meta.get_field("ssh_user").max_length == mapping.MAX_USER
    assert Host._meta.get_field("bastion").max_length == mapping.MAX_BASTION
    assert RedundancyGroup._meta.get_field("name").max_length == mapping.MAX_GROUP_NAME


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        ("hosts.ini", "all:\n", "ini"),  # the extension decides
        ("inventory.yaml", "", "yaml"),
        ("inventory.json", "{}", "yaml"),
        ("fleet.CSV", "", "csv"),
        ("hosts", "# comment\n[web]\nw1\n", "ini"),
        ("hosts", "badwolf.example.com:5309\n", "ini"),
        ("hosts", "; comment\nw1\n", "ini"),
        ("inventory", "---\nall:\n", "yaml"),
        ("inventory", "# comment\nall:  # the root\n  hosts:\n", "yaml"),
        ("inventory", '{"all": {}}', "yaml"),
        ("export", "name,address\nh1,10.0.0.1\n", "csv"),
    ],
)
def test_it_detects_the_format_from_the_extension_else_the_content(filename, text, expected):
    assert detect_format(filename, text) == expected


def test_it_lets_an_explicit_format_win_over_the_extension():
    inventory = read_inventory("all:\n  hosts:\n    h1:\n", "inventory.txt", "yaml")
    assert list(inventory.hosts) == ["h1"]


def test_it_refuses_an_unknown_format():
    with pytest.raises(InventoryError, match='unknown format "toml"'):
        read_inventory("", "inventory.toml", "toml")
