"""Errors for data on disk; every message names the file and the field at fault."""
from __future__ import annotations

from binpick.errors import BinpickError


class DataFormatError(BinpickError, ValueError):
    """A file on disk is missing a field or holds a value of the wrong form."""

    def __init__(self, path: object, where: str, problem: str) -> None:
        self.path = str(path)
        self.where = where
        super().__init__(f'{path}: {where}: {problem}' if where else f'{path}: {problem}')
