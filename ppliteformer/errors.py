"""Typed errors. Each message says what is wrong and how to fix it.

The CLI prints any ``PPLiteFormerError`` as one paragraph and exits with code 2; anything
else is a bug and keeps its traceback.
"""


class PPLiteFormerError(Exception):
    """Base class for user-facing errors (exit code 2, no traceback)."""

    exit_code = 2


class ConfigError(PPLiteFormerError):
    """A strategy YAML or an option is malformed, unknown or out of range."""


class DataError(PPLiteFormerError):
    """A dataset file is missing, empty or malformed."""


class ModelFileError(PPLiteFormerError):
    """A model file or directory is missing, corrupt or of the wrong kind."""


class StageError(PPLiteFormerError):
    """A pipeline stage could not produce its artifact (a tool failed, a check did not hold)."""


class WorkdirError(PPLiteFormerError):
    """The work directory is unusable (read-only, full, or held by another run)."""


class ReportError(PPLiteFormerError):
    """A run's report.json or a device results file is missing or malformed."""
