"""Which errors can heal: the rule task retries and the isolation of bad items share."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# OSErrors that mean "this path is wrong", not "the disk or network hiccuped".
_PERMANENT_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def can_heal(error: BaseException) -> bool:
    """Whether doing the same thing again may succeed: I/O that can recover (a dropped connection, a locked
    database, a timeout, a server that is down). A bad config file, a missing file or an error a record's
    content causes fails the same way every time."""
    if isinstance(error, sa_exc.DBAPIError):
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) or error.connection_invalidated
    if isinstance(error, _PERMANENT_OS_ERRORS):
        return False
    return isinstance(error, OSError | TimeoutError | ConnectionError)
