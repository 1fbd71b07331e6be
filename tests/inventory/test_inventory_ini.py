"""Ansible INI inventories: real ones from public repositories, and a constructed one."""

from pathlib import Path

import pytest

from fleet.inventory import InventoryError, read_inventory

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "inventory"


def read_sample(name: str, filename: str | None = None):
    return read_inventory((SAMPLES / name).read_text(), filename or name)


def test_it_reads_ansibles_example_hosts_file_with_its_ranges():
    inventory = read_sample("ansible-examples-hosts.ini", "hosts")  # no extension: detected
    assert inventory.format == "ini"
    names = set(inventory.hosts)
    assert {f"mail{n}.example.com" for n in range(6)} <= names
    assert {f"www00{n}.example.com" for n in range(1, 7)} <= names
    assert {"db-99-node.example.com", "db-100-node.example.com", "db-101-node.example.com"} <= names
    assert len(names) == 7 + 6 + 6 + 6 + 4 + 3  # ungrouped, mail, web, www, db, db-nodes
    assert inventory.hosts["myserver.com"].labels == ("group=dbservers", "group=webservers")
    # ungrouped hosts get no label: `ungrouped` is skipped like `all`
    assert inventory.hosts["green.bikeshed.org"].labels == ()
    assert inventory.groups == {}  # no group sets rebootable_max_unavailable


def test_it_applies_group_vars_through_children_declared_later():
    inventory = read_sample("openshift-glusterfs-mixed.ini")
    assert set(inventory.hosts) == {
        "master",
        "node0",
        "node1",
        "node2",
        "node0.local",
        "node1.local",
        "node2.local",
    }
    # [OSEv3:vars] ansible_ssh_user=root reaches every host through [OSEv3:children]
    assert {h.ssh_user for h in inventory.hosts.values()} == {"root"}
    assert inventory.hosts["master"].labels == (
        "group=OSEv3",
        "group=etcd",
        "group=masters",
        "group=nodes",
    )
    assert inventory.hosts["node0.local"].labels == ("group=OSEv3", "group=glusterfs")


def test_it_reads_the_constructed_two_region_inventory():
    inventory = read_sample("constructed-two-regions.ini")
    hosts = inventory.hosts
    assert len(hosts) == 15
    assert inventory.skipped == ["localhost"]

    bastion = hosts["bastion01.example.net"]
    assert (bastion.address, bastion.port, bastion.ssh_user, bastion.labels) == (
        "203.0.113.10",
        22,
        "jump",
        (),
    )
    web = hosts["web-eu01.example.net"]
    assert web.ssh_user == "www-admin"  # [web:vars] over [all:vars]
    assert web.bastion == "bastion01.example.net"
    assert web.labels == ("group=europe", "group=web_eu")
    edge = hosts["web-eu05.example.net"]
    assert edge.port == 2222  # host:port shorthand
    assert edge.labels == ("canary=yes", "group=europe", "group=web_eu", "tier=edge")
    assert sorted(n for n in hosts if n.startswith("web-us")) == [
        "web-us1.example.net",
        "web-us3.example.net",
        "web-us5.example.net",
        "web-us7.example.net",
    ]
    assert hosts["web-us3.example.net"].ssh_user == "deploy"  # host var over group var

    assert hosts["db-b.example.net"].port == 2200  # legacy ansible_ssh_port from [db:vars]
    primary = hosts["db-d.example.net"]
    assert (primary.address, primary.port) == ("10.0.5.4", 2201)
    assert primary.labels == ("backup=nightly", "group=europe", "role=primary")
    old = hosts["db-old.example.net"]
    assert (old.address, old.enabled) == ("10.0.5.9", False)
    assert hosts["db-a.example.net"].enabled is None  # not stated: left to the database

    assert {g.name: g.max_unavailable for g in inventory.groups.values()} == {
        "web": "25%",
        "db": "1",
    }
    assert len(inventory.groups["web"].members) == 9
    assert inventory.groups["db"].members == {f"db-{c}.example.net" for c in "abcd"} | {
        "db-old.example.net"
    }


def test_it_warns_when_a_legacy_name_loses_to_the_modern_one():
    warnings = read_sample("constructed-two-regions.ini").warnings
    assert any(
        "ansible_user (line 39) and ansible_ssh_user (line 32)" in w and "4 other host(s)" in w
        for w in warnings
    )
    assert any('localhost: skipped, its ansible_connection "local"' in w for w in warnings)


def test_it_reads_values_the_way_ansible_does():
    inventory = read_inventory(
        "[app]\n"
        "a1 rebootable_labels=\"['x=1', 'y=2']\"  ansible_port='2022'\n"
        "a2 rebootable_labels='x=1, y=2' ansible_user=\"svc\" # comment\n"
        "[app:vars]\n"
        "rebootable_bastion = jump.example.com   # comment after a value\n",
        "inventory.ini",
    )
    assert inventory.hosts["a1"].labels == ("group=app", "x=1", "y=2")
    assert inventory.hosts["a1"].port == 2022
    assert inventory.hosts["a2"].labels == ("group=app", "x=1", "y=2")
    assert inventory.hosts["a2"].ssh_user == "svc"
    assert inventory.hosts["a2"].bastion == "jump.example.com"


def test_it_reads_windows_line_endings():
    inventory = read_inventory(
        "[web]\r\nw1 ansible_port=2222\r\n[web:vars]\r\nansible_user=u\r\n", "i.ini"
    )
    assert (inventory.hosts["w1"].port, inventory.hosts["w1"].ssh_user) == (2222, "u")
    csv = read_inventory("name,port\r\nh1,2200\r\n", "f.csv")
    assert csv.hosts["h1"].port == 2200


def test_it_puts_a_host_listed_in_several_groups_in_all_of_them():
    inventory = read_inventory(
        "[a]\nh1 ansible_port=2201\n[b]\nh1 ansible_user=bee\n[b:vars]\nrebootable_max_unavailable=1\n",
        "inventory.ini",
    )
    host = inventory.hosts["h1"]
    assert (host.port, host.ssh_user, host.labels) == (2201, "bee", ("group=a",))
    assert inventory.groups["b"].members == {"h1"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "[web]\nweb01\nweb[01:x].example.com\n",
            3,
            'host range "web[01:x].example.com" is not valid',
        ),
        ("[web]\nweb01 ansible_port\n", 2, "expected key=value"),
        ("[web]\nweb01 ansible_port=99999\n", 2, 'port "99999" is not a port number'),
        ("[web]\nweb01 ansible_port=ssh\n", 2, 'port "ssh" is not a port number'),
        ("[web:vars]\nansible_user=x\n", 1, 'section [web:vars] "web"'),
        ("[all:children]\nweb\n", 2, 'names group "web"'),
        ("[web:members]\nweb01\n", 1, 'unknown type "members"'),
        ("[web servers]\nweb01\n", 1, "not a valid section header"),
        ("[web]\nweb01 motd='unterminated\n", 2, "cannot read host line"),
        ("[web:vars]\nno equals sign\n[web]\n", 2, "expected key=value"),
        ("[web]\nw1\n[web:vars]\nrebootable_max_unavailable=0\n", 4, "at least one host"),
        ("[web]\nw1\n[web:vars]\nrebootable_max_unavailable=150%\n", 4, "between 1% and 100%"),
        ("[web]\nw1\n[web:vars]\nrebootable_max_unavailable=half\n", 4, "not a count"),
        ("[web]\nw1 rebootable_enabled=maybe\n", 2, "must be true or false"),
        ("[web]\nw1 rebootable_labels=prod\n", 2, 'label "prod" is not key=value'),
        ("[web]\nw1 ansible_user='a b'\n", 2, 'ansible_user "a b" is not valid'),
        ("[a:children]\nb\n[b:children]\na\n", 4, "cannot contain themselves"),
        ("---\nall:\n", 1, "YAML"),
    ],
)
def test_it_names_the_line_of_a_malformed_file(text, line, message):
    with pytest.raises(InventoryError) as caught:
        read_inventory(text, "inventory.ini")
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"inventory.ini:{line}: ")
