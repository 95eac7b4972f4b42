"""One error type for bad input data, so callers can tell it from a bug and show it as is."""

from __future__ import annotations


class DataError(ValueError):
    """A data file or table is unusable; the message names the file, row and problem."""

    def __init__(self, problem: str, *, file: str | None = None, row: int | None = None) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        where = ""
        if file is not None:
            where = f"{file}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(where + problem)
