"""Ansible YAML inventories: nested children, inherited variables, null values."""

from pathlib import Path

import pytest

from fleet.inventory import InventoryError, read_inventory

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "inventory"


def read_sample(name: str):
    return read_inventory((SAMPLES / name).read_text(), name)


def test_it_reads_ansibles_own_yaml_test_inventory():
    inventory = read_sample("ansible-test-inventory-yaml.yml")
    assert set(inventory.hosts) == {"marcia", "jan", "cindy", "greg", "peter", "bobby", "alice"}
    assert inventory.hosts["alice"].labels == ("group=the-maid",)
    assert inventory.hosts["greg"].labels == ("group=kids",)


def test_it_reads_the_docs_example_three_groups_deep():
    inventory = read_sample("ansible-docs-usa.yml")
    assert set(inventory.hosts) == {"host1", "host2", "host3"}
    assert inventory.hosts["host2"].labels == (
        "group=atlanta",
        "group=raleigh",
        "group=southeast",
        "group=usa",
    )


def test_it_refuses_kubesprays_hosts_written_as_one_multiline_value():
    # `hosts:` followed by indented names without colons is ONE scalar "node1 node2 node3".
    with pytest.raises(InventoryError) as caught:
        read_sample("kubespray-sample-inventory.yml")
    assert caught.value.line == 21
    assert '"node1 node2 node3" is not a valid host name: it contains spaces' in str(caught.value)


def test_it_inherits_group_vars_with_children_overriding_parents_and_hosts_overriding_groups():
    inventory = read_sample("constructed-nested.yml")
    hosts = inventory.hosts
    assert inventory.skipped == ["stage01.example.net"]
    assert set(hosts) == {
        "bastion01.example.net",
        "fe-eu1.example.net",
        "fe-eu2.example.net",
        "fe-eu3.example.net",
        "fe-us1.example.net",
        "fe-us2.example.net",
        "be01.example.net",
        "be02.example.net",
    }
    eu = hosts["fe-eu1.example.net"]
    assert (eu.ssh_user, eu.port) == ("eu-ops", 2222)  # frontend_eu over production, frontend
    assert eu.labels == ("env=production", "group=frontend_eu", "group=production", "group=staging")
    us = hosts["fe-us1.example.net"]
    assert (us.ssh_user, us.port) == ("prod-ops", 22022)
    assert us.labels == ("canary=yes", "env=production", "group=frontend_us", "group=production")
    assert hosts["fe-us2.example.net"].port == 2222  # a null host takes its groups' values
    assert hosts["be01.example.net"].address == "10.1.0.1"  # legacy ansible_ssh_host
    assert hosts["be01.example.net"].bastion == "bastion01.example.net"
    be02 = hosts["be02.example.net"]
    assert (be02.address, be02.enabled, be02.ssh_user) == ("10.1.0.2", False, "root")
    assert hosts["bastion01.example.net"].ssh_user == "ops"

    assert inventory.groups["frontend"].max_unavailable == "2"
    assert inventory.groups["frontend"].members == {
        "fe-eu1.example.net",
        "fe-eu2.example.net",
        "fe-eu3.example.net",
        "fe-us1.example.net",
        "fe-us2.example.net",
    }
    assert inventory.groups["backend"].max_unavailable == "50%"
    assert set(inventory.groups) == {"frontend", "backend"}


def test_it_reads_a_json_inventory_with_a_port_in_the_host_key():
    text = '{"all": {"children": {"db": {"hosts": {"db1:2202": null}, "vars": {"ansible_user": "pg"}}}}}'
    host = read_inventory(text, "inventory.json").hosts["db1"]
    assert (host.port, host.ssh_user) == (2202, "pg")


def test_it_accepts_anchors_merge_keys_unsafe_and_vault_values_it_does_not_need():
    text = """\
all:
  children:
    app:
      vars: &common
        ansible_user: deploy
        db_password: !vault |
          $ANSIBLE_VAULT;1.1;AES256
          6238
      hosts:
        app1:
          <<: *common
          ansible_host: !unsafe 10.0.0.7
"""
    host = read_inventory(text, "inventory.yml").hosts["app1"]
    assert (host.address, host.ssh_user) == ("10.0.0.7", "deploy")


def test_it_reads_an_empty_file_as_an_inventory_without_hosts():
    assert read_inventory("# nothing yet\n", "inventory.yml").hosts == {}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("- web01\n- web02\n", 1, "must be a mapping of groups, not a list"),
        ("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", 1, "inventory plugin configuration"),
        ("all:\n  hosts:\n    web01:\n  chidlren:\n    db:\n", 4, 'unexpected key "chidlren"'),
        ("all:\n  children:\n    web: [web01, web02]\n", 3, 'group "web" must be a mapping'),
        ("all:\n  hosts: [web01]\n", 2, '"hosts" of group "all" must be a mapping'),
        ("all:\n  hosts:\n    web01: 10.0.0.1\n", 3, 'variables of host "web01" must be a mapping'),
        ("all:\n  hosts:\n    web[1:x]:\n", 3, 'host range "web[1:x]" is not valid'),
        ("all:\n  hosts:\n    web01:\n      ansible_port: [22]\n", 4, "is not a port number"),
        ("all:\n  hosts:\n    web01:\n      ansible_port: true\n", 4, "is not a port number"),
        (
            "all:\n  children:\n    web:\n      vars:\n        rebootable_max_unavailable: 2x\n",
            5,
            'rebootable_max_unavailable of group "web"',
        ),
        (
            "all:\n  children:\n    web:\n      vars:\n        rebootable_max_unavailable: [1]\n",
            5,
            "must be a count",
        ),
        (
            "all:\n  hosts:\n    w1:\n      ansible_user: !vault |\n        $ANSIBLE\n",
            4,
            "must be text",
        ),
        ("all:\n  hosts:\n    w1: {a: 1\n", 4, "not valid YAML"),
        ("all:\n  hosts:\n    w1:\n      x: !python/object foo\n", 4, "cannot read this value"),
    ],
)
def test_it_names_the_line_of_a_malformed_yaml_file(text, line, message):
    with pytest.raises(InventoryError) as caught:
        read_inventory(text, "inventory.yml")
    assert caught.value.line == line, str(caught.value)
    assert message in caught.value.message
