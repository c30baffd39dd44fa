"""The one exception type the command line turns into a one-line message and exit code 2."""


class DifflabError(Exception):
    """Bad input or an unusable state, explained in one line for the user."""


class Interrupted(DifflabError):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint; the command exits with 130."""
