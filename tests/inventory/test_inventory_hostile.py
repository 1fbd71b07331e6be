"""Hostile inventories: alias bombs, deep nesting, huge values. Each is a file:line error that
quotes at most a short piece of the file, never a RecursionError, a 500 or megabytes."""

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from fleet.inventory import InventoryError, read_inventory
from fleet.inventory.errors import QUOTE_LIMIT
from fleet.inventory.ini_format import split_words
from fleet.inventory.mapping import MAX_GROUP_DEPTH
from fleet.inventory.yaml_format import MAX_DEPTH
from fleet.models import Host


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    """The classic "billion laughs": each level lists the previous one `fan` times."""
    lines = ["all:", "  vars:", '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for level in range(levels - 1):
        name = chr(ord("b") + level)
        refs = ",".join([f"*{previous}"] * fan)
        lines.append(f"    {name}: &{name} [{refs}]")
        previous = name
    lines.append("  hosts:")
    lines.append(f"    web01: {{rebootable_labels: *{previous}}}")
    return "\n".join(lines) + "\n"


def refused(text: str, filename: str) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        read_inventory(text, filename)
    return caught.value


def test_it_refuses_a_600_byte_alias_bomb_quickly_with_a_short_message():
    bomb = alias_bomb()
    assert len(bomb) < 700
    started = time.process_time()
    error = refused(bomb, "bomb.yml")
    elapsed = time.process_time() - started
    message = str(error)
    assert message.startswith("bomb.yml:")
    assert error.line is not None
    assert "aliases here expand the file to more than" in message
    assert len(message) < 400
    assert elapsed < 1.0  # measured: a few milliseconds


def test_it_refuses_one_more_level_of_bomb_just_as_fast():
    started = time.process_time()
    error = refused(alias_bomb(levels=10), "bomb.yml")
    assert time.process_time() - started < 1.0
    assert "aliases here expand" in str(error)


def test_it_still_reads_anchors_shared_between_groups():
    shared = "\n".join(
        [
            "all:",
            "  children:",
            *[
                line
                for index in range(300)
                for line in (
                    f"    g{index}:",
                    "      vars: &common {ansible_user: ops, ansible_port: 2222}"
                    if index == 0
                    else "      vars: *common",
                    "      hosts:",
                    f"        h{index}: {{<<: *common, rebootable_labels: [n={index}]}}",
                )
            ],
        ]
    )
    inventory = read_inventory(shared + "\n", "shared.yml")
    assert len(inventory.hosts) == 300
    assert {h.port for h in inventory.hosts.values()} == {2222}


def test_it_refuses_a_recursive_alias():
    text = "all:\n  vars:\n    loop: &loop [*loop]\n  hosts:\n    web01:\n"
    error = refused(text, "loop.yml")
    assert "recursive" in str(error)
    assert error.line == 3


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 3000, 50_000])
def test_it_refuses_deep_flow_nesting_with_its_line(depth):
    text = "all:\n  vars:\n    deep: " + "[" * depth + "]" * depth + "\n"
    error = refused(text, "deep.yml")
    assert f"nested more than {MAX_DEPTH} levels deep" in str(error)
    assert error.line == 3


def test_it_refuses_depth_built_from_aliases_of_aliases():
    lines = ["all:", "  vars:", "    l0: &l0 [x]"]
    lines += [f"    l{i}: &l{i} [[*l{i - 1}]]" for i in range(1, 80)]
    error = refused("\n".join(lines) + "\n", "chain.yml")
    assert f"nested more than {MAX_DEPTH} levels deep" in str(error)


def test_it_accepts_nesting_well_below_the_limit():
    text = "all:\n  vars:\n    deep: " + "[" * 40 + "]" * 40 + "\n  hosts:\n    web01:\n"
    assert list(read_inventory(text, "ok.yml").hosts) == ["web01"]


def test_it_refuses_a_3000_deep_children_chain_in_ini_with_its_line():
    sections = [f"[g{index}:children]\ng{index + 1}\n" for index in range(3000)]
    text = "".join(sections) + "[g3000]\nweb01\n"
    error = refused(text, "chain.ini")
    assert f"nested more than {MAX_GROUP_DEPTH} levels deep" in str(error)
    assert error.line is not None
    assert str(error).startswith(f"chain.ini:{error.line}: ")


def test_it_refuses_a_deep_children_chain_in_yaml_before_recursing():
    text = "all:\n"
    indent = "  "
    for index in range(200):
        text += f"{indent}children:\n{indent}  g{index}:\n"
        indent += "    "
    error = refused(text, "chain.yml")
    assert "levels deep" in str(error)


def test_it_accepts_a_children_chain_a_little_below_the_limit():
    depth = MAX_GROUP_DEPTH - 2
    sections = [f"[g{index}:children]\ng{index + 1}\n" for index in range(depth)]
    text = "".join(sections) + f"[g{depth}]\nweb01\n"
    inventory = read_inventory(text, "chain.ini")
    assert f"group=g{depth}" in inventory.hosts["web01"].labels


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("huge.ini", "[web]\nweb01 rebootable_enabled=" + "y" * 1_000_000 + "\n"),
        ("huge.ini", "[web]\n" + "x" * 1_000_000 + "[\n"),
        ("huge.ini", "[" + "x" * 1_000_000 + " y]\n"),
        ("huge.yml", "all:\n  hosts:\n    web01:\n      ansible_port: " + "9" * 1_000_000 + "\n"),
        ("huge.yml", "all:\n  hosts:\n    web01:\n      rebootable_labels: " + "x" * 10**6 + "\n"),
        ("spaces.ini", "[web]\nweb01\n[web:vars]\nmotd=a" + " " * 1_000_000 + "b\n[x\n"),
        ("huge.yml", "all:\n  hosts:\n    " + "h" * 1_000_000 + " x:\n"),
        ("huge.csv", "name,port\nweb01," + "p" * 1_000_000 + "\n"),
    ],
)
def test_it_quotes_at_most_a_short_piece_of_a_huge_value(filename, text):
    error = refused(text, filename)
    assert len(str(error)) < 3 * QUOTE_LIMIT + 300, str(error)[:500]
    assert error.line is not None


def test_it_shortens_a_huge_list_in_a_message():
    labels = "[" + ", ".join(["[1, 2, 3]"] * 5_000) + "]"
    error = refused(
        f"all:\n  children:\n    web:\n      vars:\n        rebootable_max_unavailable: {labels}\n",
        "x.yml",
    )
    assert "must be a count" in str(error)
    assert len(str(error)) < 400


def test_it_refuses_a_pattern_with_too_many_ranges():
    error = refused("[web]\nweb" + "[1:1]" * 2000 + "\n", "ranges.ini")
    assert "ranges" in str(error) and error.line == 2
    assert len(str(error)) < 400


@pytest.mark.django_db
def test_the_upload_page_answers_a_bomb_with_a_short_error(admin_client_role):
    bomb = alias_bomb(levels=10).encode()
    response = admin_client_role.post(
        "/admin-tools/inventory/",
        {"file": SimpleUploadedFile("bomb.yml", bomb), "action": "preview"},
    )
    assert response.status_code == 422
    assert len(response.content) < 100_000
    assert "bomb.yml:" in response.content.decode()


@pytest.mark.django_db
def test_the_upload_page_answers_a_deep_chain_without_a_500(admin_client_role):
    sections = "".join(f"[g{index}:children]\ng{index + 1}\n" for index in range(3000))
    response = admin_client_role.post(
        "/admin-tools/inventory/",
        {
            "file": SimpleUploadedFile("chain.ini", (sections + "[g3000]\nweb01\n").encode()),
            "action": "import",
        },
    )
    assert response.status_code == 422
    assert "levels deep" in response.content.decode()
    assert not Host.objects.exists()


@pytest.mark.django_db
def test_the_command_fails_on_a_bomb_with_a_short_error(tmp_path):
    path = tmp_path / "bomb.yml"
    path.write_text(alias_bomb(levels=10))
    with pytest.raises(CommandError) as caught:
        call_command("import_inventory", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert str(caught.value).startswith(f"{path}:")
    assert len(str(caught.value)) < 500


def test_the_ini_word_splitter_is_shlex_in_linear_time():
    import random
    import shlex

    rng = random.Random(15)
    for _ in range(20_000):
        line = "".join(rng.choice("ab '\"\\#\t=") for _ in range(rng.randint(0, 12)))
        try:
            expected = shlex.split(line, comments=True)
        except ValueError:
            expected = "error"
        try:
            got = split_words(line)
        except ValueError:
            got = "error"
        assert got == expected, line
    normal = "web01 ansible_host=10.0.0.1 ansible_port=2222 motd='hello there' # a comment"
    started = time.process_time()
    for _ in range(100):
        split_words(normal)
    baseline = time.process_time() - started
    started = time.process_time()
    split_words("web01 x=" + "y" * 1_000_000)  # 12,000 times longer than the normal line
    assert time.process_time() - started < max(baseline * 12_000 / 100 * 5, 0.5)
