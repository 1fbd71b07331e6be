"""CSV inventories: name,address,port,user,groups,labels."""

from pathlib import Path

import pytest

from fleet.inventory import InventoryError, read_inventory

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "inventory"


def test_it_reads_the_documented_columns_with_blank_cells_taking_defaults():
    inventory = read_inventory((SAMPLES / "constructed-cmdb.csv").read_text(), "fleet.csv")
    hosts = inventory.hosts
    assert list(hosts) == [
        "app01.example.com",
        "app02.example.com",
        "app03.example.com",
        "cache01.example.com",
    ]
    app01 = hosts["app01.example.com"]
    assert (app01.address, app01.port, app01.ssh_user) == ("10.2.0.1", 22, "deploy")
    assert app01.labels == ("group=app", "group=eu", "owner=team-a", "tier=app")
    assert hosts["app02.example.com"].labels == ("group=app", "group=eu", "tier=app")
    app03 = hosts["app03.example.com"]
    assert (app03.address, app03.port, app03.ssh_user) == ("app03.example.com", 2222, "root")
    assert hosts["cache01.example.com"].labels == ("role=cache",)
    assert inventory.groups == {}  # a CSV cannot set max_unavailable: its groups are labels


def test_it_accepts_columns_in_any_order_and_only_a_name():
    inventory = read_inventory("Labels,NAME\nk=v,h1\n,h2\n", "fleet.csv")
    assert inventory.hosts["h1"].labels == ("k=v",)
    assert inventory.hosts["h2"].address == "h2"


def test_it_reads_the_optional_bastion_and_enabled_columns():
    host = read_inventory("name,bastion,enabled\nh1,jump.example.com,no\n", "f.csv").hosts["h1"]
    assert (host.bastion, host.enabled) == ("jump.example.com", False)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name,address,rack\nh1,10.0.0.1,r1\n", 1, "unknown column 'rack'"),
        ("address,port\n10.0.0.1,22\n", 1, 'no "name" column'),
        ("name,name\nh1,h1\n", 1, "column 'name' appears twice"),
        ("name,port\nh1,22\nh2,22\nh1,2222\n", 4, 'host "h1" is already on line 2'),
        ("name,port\nh1,22\nh2,twenty-two\n", 3, 'port "twenty-two" is not a port number'),
        ("name,port\nh1,0\n", 2, 'port "0" is not a port number'),
        ("name,port\nh1,22,extra\n", 2, "3 cells but the header names 2 columns"),
        ("name,port\n,22\n", 2, "the name is empty"),
        ("name,labels\nh1,tier\n", 2, 'label "tier" is not key=value'),
        ('name,address\nh1,"10.0.0.1\n', 2, "not valid CSV"),
    ],
)
def test_it_names_the_line_of_a_malformed_csv(text, line, message):
    with pytest.raises(InventoryError) as caught:
        read_inventory(text, "fleet.csv")
    assert caught.value.line == line, str(caught.value)
    assert message in caught.value.message
