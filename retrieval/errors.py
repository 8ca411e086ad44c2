"""The errors a user fixes: each message says what is wrong and what to do, and ends the program with code 2."""


class SetupError(Exception):
    """Something the user must change before the program can run: a setting, a folder, an index."""


class IndexProblem(SetupError, RuntimeError):
    """An index that is missing, corrupt, built differently, or whose database is not answering."""
