"""The demo's policies: the ones the README's walkthrough names, and no other."""

import re
from pathlib import Path

import pytest

from lab import demo_story
from reboots.models import RebootPolicy

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    start = text.index("## Try it")
    return text[start : text.index("\n## ", start + 1)]


def test_it_names_in_the_readme_exactly_the_policies_the_demo_creates():
    named = set(re.findall(r"\*(Demo: [^*]+?)\*", " ".join(walkthrough().split())))
    assert named == set(demo_story.POLICIES)


@pytest.mark.django_db
def test_it_creates_the_policies_once_and_the_one_for_step_5_tolerates_no_failure():
    demo_story.ensure_policies()
    demo_story.ensure_policies()
    assert sorted(RebootPolicy.objects.values_list("name", flat=True)) == sorted(
        demo_story.POLICIES
    )
    lose_a_host = RebootPolicy.objects.get(name=demo_story.NO_FAILURES_POLICY_NAME)
    assert lose_a_host.failure_budget == 0
    assert lose_a_host.approval_mode == "none"
    assert demo_story.ensure_policy().name == demo_story.POLICY_NAME
    step_5 = walkthrough().split("\n5. ", 1)[1]
    assert demo_story.NO_FAILURES_POLICY_NAME in " ".join(step_5.split())
