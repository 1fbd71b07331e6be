"""Import an inventory (Ansible INI or YAML, or CSV) into hosts and redundancy groups.

    result = import_text(text, "hosts.ini", prune=False, actor=request.user)

Parsing and the mapping rules are pure (`parse_text`, `read_inventory`); `import_text` then
writes the differences in one transaction (`fleet.inventory.apply`). Any problem raises
`InventoryError` (`str()` gives `file:line: message`) before anything is written.
"""

from typing import TYPE_CHECKING

from fleet.inventory.csv_format import parse_csv
from fleet.inventory.detect import FORMATS, detect_format
from fleet.inventory.errors import InventoryError
from fleet.inventory.ini_format import parse_ini
from fleet.inventory.mapping import to_desired
from fleet.inventory.model import DesiredInventory, ParsedInventory
from fleet.inventory.yaml_format import parse_yaml

if TYPE_CHECKING:
    from fleet.inventory.apply import ImportResult

__all__ = [
    "FORMATS",
    "ImportResult",
    "InventoryError",
    "decode_inventory",
    "detect_format",
    "import_text",
    "parse_text",
    "read_inventory",
]


def decode_inventory(data: bytes, filename: str) -> str:
    """The text of an uploaded or read file; a file that is not UTF-8 is an InventoryError."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InventoryError(filename, line, "the file is not UTF-8 text") from exc


def parse_text(text: str, filename: str, format: str | None = None) -> ParsedInventory:
    """Parse with Ansible's semantics, without applying Rebootable's rules."""
    chosen = format or detect_format(filename, text)
    parsers = {"ini": parse_ini, "yaml": parse_yaml, "csv": parse_csv}
    if chosen not in parsers:
        known = ", ".join(FORMATS)
        raise InventoryError(filename, None, f'unknown format "{chosen}" (use {known})')
    return parsers[chosen](text.lstrip("\ufeff"), filename)


def read_inventory(
    text: str, filename: str, format: str | None = None, *, default_user: str = "root"
) -> DesiredInventory:
    """Parse and apply the mapping rules: what the fleet tables should hold for this file."""
    return to_desired(parse_text(text, filename, format), default_user=default_user)


def import_text(
    text: str,
    filename: str,
    *,
    prune: bool,
    actor,
    dry_run: bool = False,
    format: str | None = None,
    allow_group_shrink: bool = False,
) -> "ImportResult":
    """Import one file; returns an ImportResult. `actor` is a user, or None for the system.

    `allow_group_shrink` lets a redundancy group lose members while a rollout is open on it.
    """
    # The database half loads only when used: parsing stays importable before Django's apps.
    from fleet.inventory.apply import apply_inventory
    from fleet.models import Host

    default_user = Host._meta.get_field("ssh_user").default
    desired = read_inventory(text, filename, format, default_user=default_user)
    return apply_inventory(
        desired,
        prune=prune,
        actor=actor,
        dry_run=dry_run,
        allow_group_shrink=allow_group_shrink,
    )


def __getattr__(name: str):
    if name == "ImportResult":
        # ImportResult lives beside the database code; load it only when asked for.
        from fleet.inventory.apply import ImportResult

        return ImportResult
    raise AttributeError(name)
