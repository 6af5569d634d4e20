"""The base of every error binpick reports to a user as one line (bad input, bad files, bad folders)."""


class BinpickError(Exception):
    """An expected failure whose message names the file, field or argument at fault."""
