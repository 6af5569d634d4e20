"""The base of every error binpick reports to a user as one line (bad input, bad files, bad folders)."""


class BinpickError(Exception):
    """An expected failure whose message names the file, field or argument at fault."""


class WaitTimeout(BinpickError):
    """A wait on another process ran out of time (the other side may still answer later)."""
