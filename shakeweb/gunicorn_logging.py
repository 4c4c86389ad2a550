"""gunicorn's logger without secrets: `--logger-class shakeweb.gunicorn_logging.RedactingLogger`
(Procfile, Procfile.dev, Dockerfile). The access log's request line and the error log's
"Error handling request <path>" lose the webhook secret (shakeweb.logging.RedactSecrets)."""

from gunicorn.config import Config
from gunicorn.glogging import Logger

from shakeweb.logging import RedactSecrets


class RedactingLogger(Logger):
    """gunicorn's Logger with RedactSecrets on its access and error loggers."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecrets) for f in logger.filters):
                logger.addFilter(RedactSecrets())
