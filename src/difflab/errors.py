"""The one exception type the command line turns into a one-line message and exit code 2."""


class DifflabError(Exception):
    """Bad input or an unusable state, explained in one line for the user."""


class DifflabWarning(UserWarning):
    """A result computed but worth a look (clipped values, a fallback taken); the command line
    prints it as one line, `warning: …`, on stderr."""


class Interrupted(DifflabError):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint; the command exits with 130."""


def lookup(table: dict, name: str, what: str, expected: str = "one of"):
    """table[name], or the one-line error every registry gives: the unknown name and the known
    ones."""
    try:
        return table[name]
    except KeyError:
        raise DifflabError(
            f"unknown {what} {name!r}; expected {expected}: {', '.join(table)}"
        ) from None
