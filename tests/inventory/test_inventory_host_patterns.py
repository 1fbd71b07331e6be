"""Host patterns follow Ansible's range rules."""

import pytest

from fleet.inventory.host_patterns import HostPatternError, expand_host_pattern, expand_ranges


def test_it_keeps_the_leading_zeros_of_a_zero_padded_range():
    names, port = expand_host_pattern("web[01:20].example.com")
    assert len(names) == 20
    assert names[0] == "web01.example.com"
    assert names[8:10] == ["web09.example.com", "web10.example.com"]
    assert names[-1] == "web20.example.com"
    assert port is None


def test_it_does_not_pad_a_range_whose_begin_has_no_leading_zero():
    assert expand_ranges("db-[99:101]-node") == ["db-99-node", "db-100-node", "db-101-node"]


def test_it_expands_letter_ranges():
    assert expand_ranges("db-[a:f].example.com") == [f"db-{c}.example.com" for c in "abcdef"]


def test_it_applies_a_step():
    assert expand_ranges("www[01:10:2]") == ["www01", "www03", "www05", "www07", "www09"]
    assert expand_ranges("n[a:g:3]") == ["na", "nd", "ng"]


def test_it_treats_an_empty_begin_as_zero():
    assert expand_ranges("mail[:3].example.com") == [f"mail{n}.example.com" for n in range(4)]


def test_it_expands_several_ranges_in_one_name():
    assert expand_ranges("r[1:2]-n[a:b]") == ["r1-na", "r1-nb", "r2-na", "r2-nb"]


def test_it_reads_a_port_after_the_pattern():
    assert expand_host_pattern("badwolf.example.com:5309") == (["badwolf.example.com"], 5309)
    assert expand_host_pattern("web[1:2]:2222") == (["web1", "web2"], 2222)
    assert expand_host_pattern("[2001:db8::1]:2200") == (["2001:db8::1"], 2200)


def test_it_leaves_a_bare_ipv6_address_alone():
    assert expand_host_pattern("2001:db8::1") == (["2001:db8::1"], None)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("web[01:x]", "must both be numbers or both single letters"),
        ("web[1:2", "unbalanced brackets"),
        ("web[3:1]", "greater than the end"),
        ("web[f:a]", "comes after the end"),
        ("web[01:100]", "same width"),
        ("web[1:]", "end is missing"),
        ("web[1:9:0]", "step"),
        ("web[1:2:3:4]", "begin:end"),
        ("web[0:999999]", "more than"),
        ("web:", "without a port"),
        ("web:70000", "between 1 and 65535"),
    ],
)
def test_it_rejects_an_invalid_range_saying_why(pattern, why):
    with pytest.raises(HostPatternError) as caught:
        expand_host_pattern(pattern)
    assert why in str(caught.value)
    assert pattern.split(":")[0] in str(caught.value)
