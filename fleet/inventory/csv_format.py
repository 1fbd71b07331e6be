"""A flat CSV inventory: `name,address,port,user,groups,labels` (plus `bastion`, `enabled`).

The header row names the columns, in any order; only `name` is required. `groups` and `labels`
hold several values separated by `;` or `|`; labels are `key=value`. Blank cells take the
defaults (the address is the name, the port 22). Lines whose first cell starts with `#` are
comments. Rows become hosts with Ansible's variable names, so the mapping rules are the same
as for INI and YAML: the groups of a CSV become labels (`group=<name>`), since a CSV cannot
say a group's `max_unavailable`.
"""

import csv
import re

from fleet.inventory.errors import shorten
from fleet.inventory.model import ParsedInventory, Var

COLUMNS = ("name", "address", "port", "user", "groups", "labels", "bastion", "enabled")
# column -> the Ansible variable it stands for
_VARIABLES = {
    "address": "ansible_host",
    "port": "ansible_port",
    "user": "ansible_user",
    "labels": "rebootable_labels",
    "bastion": "rebootable_bastion",
    "enabled": "rebootable_enabled",
}
_LIST_SEPARATORS = re.compile(r"[;|]")


def split_list(cell: str) -> list[str]:
    return [item.strip() for item in _LIST_SEPARATORS.split(cell) if item.strip()]


def parse_csv(text: str, filename: str) -> ParsedInventory:
    inventory = ParsedInventory(filename=filename, format="csv")
    inventory.group("all", None)
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    header: list[str] | None = None
    first_line: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = _read_header(inventory, row, line)
                continue
            if len(row) > len(header):
                raise inventory.error(
                    line, f"{len(row)} cells but the header names {len(header)} columns"
                )
            cells = dict.fromkeys(header, "")
            cells.update(zip(header, (cell.strip() for cell in row), strict=False))
            name = cells["name"]
            if not name:
                raise inventory.error(line, "the name is empty")
            if name in first_line:
                raise inventory.error(
                    line, f'host "{shorten(name)}" is already on line {first_line[name]}'
                )
            first_line[name] = line
            groups = split_list(cells.get("groups", "")) or ["ungrouped"]
            for group in groups:
                host = inventory.add_host(name, line, group)
            for column, variable in _VARIABLES.items():
                value = cells.get(column, "")
                if value:
                    parsed = split_list(value) if column == "labels" else value
                    host.vars[variable] = Var(parsed, line)
    except csv.Error as exc:
        raise inventory.error(reader.line_num, f"not valid CSV: {exc}") from exc
    return inventory


def _read_header(inventory: ParsedInventory, row: list[str], line: int) -> list[str]:
    header = [cell.strip().lower() for cell in row]
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        raise inventory.error(
            line,
            f"unknown column {', '.join(repr(shorten(c)) for c in unknown[:10])} "
            f"(the columns are {', '.join(COLUMNS)})",
        )
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise inventory.error(
            line, f"column {', '.join(repr(shorten(c)) for c in repeated[:10])} appears twice"
        )
    if "name" not in header:
        raise inventory.error(line, 'the header has no "name" column')
    return header
