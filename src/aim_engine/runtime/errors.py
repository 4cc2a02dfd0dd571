"""Errors the runtime raises to reconcilers and the ones it maps API responses to."""

from __future__ import annotations


class ControllerRuntimeError(Exception):
    """Base class of every error raised by aim_engine.runtime."""


class ApiError(ControllerRuntimeError):
    """The API server answered a request with an error status."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class Conflict(ApiError):
    """409: the object changed since it was read (stale resourceVersion) or already exists.

    Raised out of `Store.apply_status`; the Manager turns it into an immediate, rate-limited
    requeue, so a reconciler need not catch it.
    """

    @classmethod
    def deleted(cls, what: str) -> Conflict:
        """A status write to an object deleted while it was reconciled: as stale as a changed
        one, and retried the same way (the next reconcile finds it gone)."""
        return cls(409, "Conflict", f"{what} was deleted; its status cannot be written")


class NotFound(ApiError):
    """404: the object (or its namespace) does not exist."""


class Gone(ApiError):
    """410: the resourceVersion a watch or list continued from was compacted away."""


class ApiUnreachable(ControllerRuntimeError, ConnectionError):
    """No answer from the API server: connection refused or reset, TLS failure, timeout."""


class KindNotWatched(ControllerRuntimeError):
    """A cached read of a kind nobody registered: the cache cannot answer it.

    Register the kind through a reconciler (`kind`, `owns`, `watches`) or `Store.watch(kind)`
    before the store starts.
    """


class LeadershipLost(ControllerRuntimeError):
    """The lease could not be renewed before the renew deadline; reconciling has stopped."""


def api_error(code: int, reason: str, message: str) -> ApiError:
    """The most specific ApiError subclass for an HTTP status code."""
    cls = {409: Conflict, 404: NotFound, 410: Gone}.get(code, ApiError)
    return cls(code, reason, message)
