"""Fixtures for the rollout pages: hosts, groups, a policy, and rollouts made by the real backend."""

import copy

import pytest

from fleet.models import Finding, Host, RedundancyGroup
from reboots import actions
from reboots.models import RebootPolicy

from .factories import make_hosts

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
    return RedundancyGroup.objects.create(name="web", max_unavailable="2")


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
        rollout, _plan = actions.create_rollout(
            name=name,
            policy=using or policy,
            selection_spec=spec or {"kind": "all"},
            user=user,
            reason="kernel 6.1.0-18 installed",
            start=start,
        )
        return rollout

    return make


@pytest.fixture
def hand_started_service(db):
    """A finding that holds a host's reboot until an operator acknowledges it."""

    def make(host: Host) -> Finding:
        return Finding.objects.create(
            host=host,
            kind="service-not-enabled",
            subject="nginx.service",
            severity="high",
            detail="running now, nothing starts it at boot",
        )

    return make
