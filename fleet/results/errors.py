"""The results layer's one exception, and its one-line error texts."""


class ResultsError(Exception):
    """A results folder is unusable, or an operation on it is refused."""


def one_line(exc: BaseException) -> str:
    """The message of `exc` on one line (its type name if it has none)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
