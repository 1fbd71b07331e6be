"""Fixtures for the rollout pages: hosts, groups, a policy, and rollouts made by the real backend."""

import copy

import pytest

from fleet.models import Finding, Host
from reboots.models import RebootPolicy
from tests import factories
from tests.factories import hosts as make_hosts

BANNERS = "reboots.context_processors.banners"


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Pages are rendered without collectstatic, so no manifest exists.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _rollout_banners(settings):
    """Pages render with the banners' context processor, as configured in production."""
    templates = copy.deepcopy(settings.TEMPLATES)
    processors = templates[0]["OPTIONS"]["context_processors"]
    if BANNERS not in processors:
        processors.append(BANNERS)
    settings.TEMPLATES = templates


@pytest.fixture
def hosts_factory(db):
    return make_hosts


@pytest.fixture
def web_group(db):
    return factories.group("web", max_unavailable="2")


@pytest.fixture
def web_hosts(db, web_group):
    return make_hosts(6, "web", web_group)


@pytest.fixture
def policy(db):
    return RebootPolicy.objects.create(
        name="steady", canary_size=1, batch_size="2", soak_seconds=600, failure_budget=0
    )


@pytest.fixture
def make_rollout(policy):
    """A rollout created through reboots.actions, as the page does it."""

    def make(user, spec=None, *, name="web kernels", start=False, using=None):
        return factories.rollout(
            using or policy,
            user,
            spec=spec,
            name=name,
            reason="kernel 6.1.0-18 installed",
            start=start,
        )

    return make


@pytest.fixture
def hand_started_service(db):
    """A finding that holds a host's reboot until an operator acknowledges it."""

    def make(host: Host) -> Finding:
        return factories.finding(
            host,
            "service-not-enabled",
            "nginx.service",
            detail="running now, nothing starts it at boot",
        )

    return make
