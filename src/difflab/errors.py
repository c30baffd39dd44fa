"""The one exception type the command line turns into a one-line message and exit code 2."""


class DifflabError(Exception):
    """Bad input or an unusable state, explained in one line for the user."""
