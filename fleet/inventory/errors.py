"""The one error an inventory import raises: where in the file, and what is wrong."""


class InventoryError(Exception):
    """A file that cannot be imported. Nothing is written when this is raised."""

    def __init__(self, filename: str, line: int | None, message: str) -> None:
        super().__init__(filename, line, message)
        self.filename = filename
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.filename}: {self.message}"
        return f"{self.filename}:{self.line}: {self.message}"
