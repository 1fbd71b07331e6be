"""Cutting a raw probe output into sections, tolerant of every way an output goes wrong."""

from fleet.parsers import split_sections


def test_it_splits_marked_sections_in_order():
    raw = "@@rebootable:now@@\n1707060000\n@@rebootable:uname-r@@\n6.1.0-18-amd64\n"
    assert split_sections(raw) == {"now": "1707060000\n", "uname-r": "6.1.0-18-amd64\n"}


def test_it_ignores_text_before_the_first_marker():
    raw = "Welcome to host-17\nLast login: yesterday\n@@rebootable:now@@\n1\n"
    assert split_sections(raw) == {"now": "1\n"}


def test_it_accepts_crlf_line_ends():
    raw = "@@rebootable:now@@\r\n1707060000\r\n@@rebootable:uptime@@\r\n12.5 3.1\r\n"
    assert split_sections(raw) == {"now": "1707060000\n", "uptime": "12.5 3.1\n"}


def test_it_accepts_a_missing_trailing_newline():
    assert split_sections("@@rebootable:uname-r@@\n6.1.0-18-amd64") == {"uname-r": "6.1.0-18-amd64"}


def test_it_keeps_sections_it_does_not_know():
    assert split_sections("@@rebootable:future-thing@@\nvalue\n") == {"future-thing": "value\n"}


def test_it_keeps_the_last_copy_of_a_section_printed_twice():
    raw = "@@rebootable:now@@\n1\n@@rebootable:uname-r@@\nx\n@@rebootable:now@@\n2\n"
    sections = split_sections(raw)
    assert sections["now"] == "2\n"
    assert list(sections) == ["uname-r", "now"]


def test_it_opens_a_section_whose_marker_is_glued_to_unterminated_output():
    raw = "@@rebootable:uname-r@@\n6.1.0-18-amd64@@rebootable:boot-id@@\nabc\n"
    assert split_sections(raw) == {"uname-r": "6.1.0-18-amd64", "boot-id": "abc\n"}


def test_it_returns_nothing_for_empty_or_unmarked_output():
    assert split_sections("") == {}
    assert split_sections("bash: line 1: syntax error\n") == {}
