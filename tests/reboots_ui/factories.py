"""Plain factories shared by the rollout page tests."""

from fleet.models import Host, RedundancyGroup


def make_hosts(count: int, prefix: str = "web", group: RedundancyGroup | None = None, **fields):
    """`count` hosts named prefix-0000…, optionally in `group`; returned ordered by name."""
    Host.objects.bulk_create(
        Host(
            name=f"{prefix}-{i:04d}",
            address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            **fields,
        )
        for i in range(count)
    )
    hosts = list(Host.objects.filter(name__startswith=f"{prefix}-").order_by("name"))
    if group is not None:
        group.hosts.add(*hosts)
    return hosts
