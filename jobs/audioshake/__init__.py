"""The AudioShake Tasks API client: the only package that knows AudioShake's HTTP shape.

    client = get_client()               # settings are read here, at call time
    asset = client.upload_asset(path=Path("song.wav"), filename="song.wav")
    task = client.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=asset.id)
    task = client.get_task(task.id)

What comes out are frozen dataclasses, parsed tolerantly (unknown fields ignored, optional fields
missing or null, numbers sent as strings); what goes wrong is one exception family rooted at
`AudioShakeError`. It follows the team's AudioShake API contract (audioshake-api.md: what is
documented, what is inferred) and the agreed client interface (INTERFACES.md, section 1).

The modules, each with one concern:

- `client.py`: `AudioShakeClient` (requests, retries, logging; its docstring states the
  policies) and `get_client()`, the one place that reads the settings;
- `errors.py`: the `AudioShakeError` family;
- `types.py`: the dataclasses and their tolerant parsing;
- `shapes.py`: the response shapes the parsers assume, and the comparison of a real answer with
  them (`manage.py audioshake_probe`);
- `transport.py`: auth objects, retry policies, reading error answers;
- `multipart.py`: the streamed `multipart/form-data` body of uploads;
- `download.py`: the output-host guard and the capped writing of downloads;
- `ratelimit.py`: the process-wide token bucket every request takes a token from.

Import from the package (`from jobs.audioshake import get_client`); names with a leading
underscore are the package's internals, shared between its modules and not used outside.
"""

from jobs.audioshake.client import AudioShakeClient, get_client
from jobs.audioshake.errors import (
    AudioShakeError,
    AuthenticationError,
    BadResponse,
    InsufficientCredits,
    NotFound,
    OutcomeUnknown,
    OutputHostRefused,
    OutputTooLarge,
    RateLimited,
    Unavailable,
    ValidationFailed,
)
from jobs.audioshake.multipart import UploadSource, content_type_for
from jobs.audioshake.transport import retry_after_seconds
from jobs.audioshake.types import (
    TERMINAL_STATUSES,
    ModelInfo,
    ModelUsage,
    RemoteAsset,
    RemoteError,
    RemoteOutput,
    RemoteTarget,
    RemoteTask,
    TargetSpec,
    UsageMonth,
    parse_asset,
    parse_error,
    parse_model,
    parse_model_usage,
    parse_output,
    parse_target,
    parse_task,
    parse_usage_month,
)

__all__ = [
    "TERMINAL_STATUSES",
    "AudioShakeClient",
    "AudioShakeError",
    "AuthenticationError",
    "BadResponse",
    "InsufficientCredits",
    "ModelInfo",
    "ModelUsage",
    "NotFound",
    "OutcomeUnknown",
    "OutputHostRefused",
    "OutputTooLarge",
    "RateLimited",
    "RemoteAsset",
    "RemoteError",
    "RemoteOutput",
    "RemoteTarget",
    "RemoteTask",
    "TargetSpec",
    "Unavailable",
    "UploadSource",
    "UsageMonth",
    "ValidationFailed",
    "content_type_for",
    "get_client",
    "parse_asset",
    "parse_error",
    "parse_model",
    "parse_model_usage",
    "parse_output",
    "parse_target",
    "parse_task",
    "parse_usage_month",
    "retry_after_seconds",
]
