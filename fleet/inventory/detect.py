"""Which parser reads a file: from its extension, else from its first meaningful line."""

import re
from pathlib import PurePath

FORMATS = ("ini", "yaml", "csv")

_EXTENSIONS = {
    ".ini": "ini",
    ".cfg": "ini",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "yaml",  # JSON is YAML; Ansible's yaml plugin reads .json inventories too
    ".csv": "csv",
}
_YAML_KEY = re.compile(r"^[^\s:#\[]+:\s*(#.*)?$")  # `all:` alone; INI's `host:22` has a port
_CSV_HEADER = re.compile(r"^\s*\"?name\"?\s*,", re.IGNORECASE)


def detect_format(filename: str, text: str) -> str:
    extension = PurePath(filename).suffix.lower()
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith(("---", "{")) or _YAML_KEY.match(line):
            return "yaml"
        if _CSV_HEADER.match(line):
            return "csv"
        return "ini"
    return "ini"
