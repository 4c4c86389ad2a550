"""The one exception family of the AudioShake client, rooted at `AudioShakeError`: one subclass
per kind of failure, each saying whether trying again later may help (`retryable`)."""

__all__ = [
    "AudioShakeError",
    "AuthenticationError",
    "BadResponse",
    "InsufficientCredits",
    "NotFound",
    "OutcomeUnknown",
    "OutputHostRefused",
    "OutputTooLarge",
    "RateLimited",
    "Unavailable",
    "ValidationFailed",
]


class AudioShakeError(Exception):
    """Anything that went wrong talking to AudioShake. `message` is safe to show to a user
    (it never contains the API key); `retryable` says whether trying again later may help."""

    retryable = False

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status_code})" if self.status_code else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"


class AuthenticationError(AudioShakeError):
    """401/403: the key is missing, wrong or revoked."""


class InsufficientCredits(AudioShakeError):
    """402, or an error whose message says the account has no credits left."""


class NotFound(AudioShakeError):
    """404: no such task (or it belongs to another account), or an expired output link."""


class ValidationFailed(AudioShakeError):
    """400/422: AudioShake refused the request; `message` is its own explanation."""


class RateLimited(AudioShakeError):
    """429 after the retries (or a Retry-After too long to wait): `retry_after` seconds."""

    retryable = True


class Unavailable(AudioShakeError):
    """5xx, timeouts and connection errors: AudioShake could not answer right now."""

    retryable = True


class BadResponse(AudioShakeError):
    """A response that is not what the API sends: not JSON, HTML, garbage or the wrong shape."""


class OutcomeUnknown(Unavailable):
    """From `create_task` only: the request may have reached AudioShake (read timeout, dropped
    connection, 5xx), so a task may exist. Reconcile before submitting again; never retry
    blindly (hence `retryable = False`, although it is an `Unavailable`)."""

    retryable = False


class OutputHostRefused(AudioShakeError):
    """A download link pointing at a host that is not an AudioShake output host (or not https);
    refused before any connection is made."""


class OutputTooLarge(AudioShakeError):
    """A download bigger than the caller's `max_bytes`."""
