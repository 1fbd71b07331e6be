"""dpkg and rpm version order, and kernel releases ordered as their package managers do."""

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.versions import (
    compare_kernels,
    dpkg_compare,
    kernel_sort_key,
    rpm_compare,
    rpmvercmp,
    sort_kernels,
)

# Pairs from rpm's own test suite (tests/rpmvercmp.at): left, right, expected sign.
RPMVERCMP_CASES = [
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1), ("2.0.1", "2.0.1", 0),
    ("2.0", "2.0.1", -1), ("2.0.1", "2.0", 1), ("2.0.1a", "2.0.1a", 0), ("2.0.1a", "2.0.1", 1),
    ("2.0.1", "2.0.1a", -1), ("5.5p1", "5.5p1", 0), ("5.5p1", "5.5p2", -1), ("5.5p2", "5.5p1", 1),
    ("5.5p10", "5.5p10", 0), ("5.5p1", "5.5p10", -1), ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1), ("10.1xyz", "10xyz", 1), ("xyz10", "xyz10", 0),
    ("xyz10", "xyz10.1", -1), ("xyz10.1", "xyz10", 1), ("xyz.4", "xyz.4", 0), ("xyz.4", "8", -1),
    ("8", "xyz.4", 1), ("xyz.4", "2", -1), ("2", "xyz.4", 1), ("5.5p2", "5.6p1", -1),
    ("5.6p1", "5.5p2", 1), ("5.6p1", "6.5p1", -1), ("6.5p1", "5.6p1", 1), ("6.0.rc1", "6.0", 1),
    ("6.0", "6.0.rc1", -1), ("10b2", "10a1", 1), ("10a2", "10b2", -1), ("1.0aa", "1.0aa", 0),
    ("1.0a", "1.0aa", -1), ("1.0aa", "1.0a", 1), ("10.0001", "10.0001", 0), ("10.0001", "10.1", 0),
    ("10.1", "10.0001", 0), ("10.0001", "10.0039", -1), ("10.0039", "10.0001", 1),
    ("4.999.9", "5.0", -1), ("5.0", "4.999.9", 1), ("20101121", "20101121", 0),
    ("20101121", "20101122", -1), ("20101122", "20101121", 1), ("2_0", "2_0", 0), ("2.0", "2_0", 0),
    ("2_0", "2.0", 0), ("a", "a", 0), ("a+", "a+", 0), ("a+", "a_", 0), ("a_", "a+", 0),
    ("+a", "+a", 0), ("+a", "_a", 0), ("_a", "+a", 0), ("+_", "+_", 0), ("_+", "+_", 0),
    ("_+", "_+", 0), ("+", "_", 0), ("_", "+", 0), ("1.0~rc1", "1.0~rc1", 0), ("1.0~rc1", "1.0", -1),
    ("1.0", "1.0~rc1", 1), ("1.0~rc1", "1.0~rc2", -1), ("1.0~rc2", "1.0~rc1", 1),
    ("1.0~rc1~git123", "1.0~rc1~git123", 0), ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0~rc1", "1.0~rc1~git123", 1), ("1.0^", "1.0^", 0), ("1.0^", "1.0", 1), ("1.0", "1.0^", -1),
    ("1.0^git1", "1.0^git1", 0), ("1.0^git1", "1.0", 1), ("1.0", "1.0^git1", -1),
    ("1.0^git1", "1.0^git2", -1), ("1.0^git2", "1.0^git1", 1), ("1.0^git1", "1.01", -1),
    ("1.01", "1.0^git1", 1), ("1.0^20160101", "1.0^20160101", 0), ("1.0^20160101", "1.0.1", -1),
    ("1.0.1", "1.0^20160101", 1), ("1.0^20160101^git1", "1.0^20160101^git1", 0),
    ("1.0^20160102", "1.0^20160101^git1", 1), ("1.0^20160101^git1", "1.0^20160102", -1),
    ("1.0~rc1^git1", "1.0~rc1^git1", 0), ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc1^git1", -1), ("1.0^git1~pre", "1.0^git1~pre", 0),
    ("1.0^git1", "1.0^git1~pre", 1), ("1.0^git1~pre", "1.0^git1", -1),
]  # fmt: skip

# Debian policy 5.6.12 and dpkg's t-version tests: epochs, revisions, tilde before everything.
DPKG_CASES = [
    ("1.0", "1.0", 0), ("1:0", "0:1", 1), ("0:1.0", "1.0", 0), ("1.0", "1.0-0", 0),
    ("1.0-1", "1.0-2", -1), ("1.2.3-1", "1.2.10-1", -1), ("1.0~rc1", "1.0", -1),
    ("1.0~~", "1.0~~a", -1), ("1.0~~a", "1.0~", -1), ("1.0~", "1.0", -1), ("1.0", "1.0a", -1),
    ("1.0a", "1.0+", -1), ("2.30-0ubuntu1", "2.30-0ubuntu10", -1), ("1:1.0", "2.0", 1),
    ("5.15.0-101.111", "5.15.0-91.101", 1), ("5.15.0-91.101", "5.15.0-91.101~22.04.1", 1),
    ("6.1.76-1", "6.1.69-1", 1), ("0.9.8-1", "0.10-1", -1), ("1.0.0", "1.0", 1),
]  # fmt: skip


@pytest.mark.parametrize(("left", "right", "expected"), RPMVERCMP_CASES)
def test_it_orders_versions_like_rpm_own_test_suite(left, right, expected):
    assert rpmvercmp(left, right) == expected


@pytest.mark.parametrize(("left", "right", "expected"), DPKG_CASES)
def test_it_orders_versions_like_dpkg(left, right, expected):
    assert dpkg_compare(left, right) == expected


def test_it_compares_rpm_epoch_before_version_and_release():
    assert rpm_compare("1:1.0-1", "2.0-1") == 1
    assert rpm_compare("2.0-10.el9", "2.0-9.el9") == 1
    assert rpm_compare("2.0-1", "2.0-1") == 0


@pytest.mark.parametrize(
    ("older", "newer", "family"),
    [
        ("5.15.0-91-generic", "5.15.0-101-generic", "deb"),
        ("5.15.0-91-generic", "5.15.0-101-generic", None),
        ("6.1.0-17-amd64", "6.1.0-18-amd64", "deb"),
        ("5.19.0-43-generic", "6.2.0-39-generic", "deb"),
        ("5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.13.1.el9_3.x86_64", "rpm"),
        ("5.14.0-70.13.1.el9_0.x86_64", "5.14.0-362.8.1.el9_3.x86_64", None),
        ("5.15.0-200.131.27.el8uek.x86_64", "5.15.0-206.153.7.el8uek.x86_64", "rpm"),
        ("5.14.21-150500.55.39-default", "5.14.21-150500.55.44-default", "rpm"),
        ("6.1.61-85.141.amzn2023.x86_64", "6.1.66-91.160.amzn2023.x86_64", None),
    ],
)
def test_it_orders_kernel_releases_by_package_version_not_by_string(older, newer, family):
    assert compare_kernels(older, newer, family) == -1
    assert compare_kernels(newer, older, family) == 1
    assert kernel_sort_key(newer, family) > kernel_sort_key(older, family)


def test_it_sorts_kernels_ascending_and_unique():
    releases = ["5.15.0-101-generic", "5.15.0-89-generic", "5.15.0-91-generic", "5.15.0-89-generic"]
    assert sort_kernels(releases, "deb") == [
        "5.15.0-89-generic",
        "5.15.0-91-generic",
        "5.15.0-101-generic",
    ]
    assert sorted(releases) != sort_kernels(releases)  # plain string order would be wrong


_segment = st.one_of(
    st.integers(min_value=0, max_value=300).map(str),
    st.text(alphabet="abcxyz", min_size=1, max_size=3),
)
versions = st.lists(
    st.tuples(st.sampled_from([".", "-", "~", "+", "^", "_", ""]), _segment), min_size=1, max_size=5
).map(lambda parts: "".join(sep + seg for sep, seg in parts).lstrip(".-"))


@given(versions, versions)
def test_it_keeps_rpm_comparison_antisymmetric(a, b):
    assert rpmvercmp(a, b) == -rpmvercmp(b, a)


@given(versions, versions)
def test_it_keeps_dpkg_comparison_antisymmetric(a, b):
    assert dpkg_compare(a, b) == -dpkg_compare(b, a)


@given(versions)
def test_it_finds_every_version_equal_to_itself(a):
    assert rpmvercmp(a, a) == 0
    assert dpkg_compare(a, a) == 0


@given(versions, versions, versions)
def test_it_keeps_rpm_comparison_transitive(a, b, c):
    ordered = sorted([a, b, c], key=functools.cmp_to_key(rpmvercmp))
    assert rpmvercmp(ordered[0], ordered[1]) <= 0
    assert rpmvercmp(ordered[1], ordered[2]) <= 0
    assert rpmvercmp(ordered[0], ordered[2]) <= 0


@given(versions, versions, versions)
def test_it_keeps_dpkg_comparison_transitive(a, b, c):
    ordered = sorted([a, b, c], key=functools.cmp_to_key(dpkg_compare))
    assert dpkg_compare(ordered[0], ordered[1]) <= 0
    assert dpkg_compare(ordered[1], ordered[2]) <= 0
    assert dpkg_compare(ordered[0], ordered[2]) <= 0
