"""User-facing errors.

A :class:`CenasError` carries a one-line message that names the file or field at fault and
the problem; the CLI prints it and exits with code 2, never with a traceback.
"""

from __future__ import annotations


class CenasError(ValueError):
    """Bad user input (file, configuration, argument), with a one-line message."""


class TraceError(CenasError):
    """A carbon-intensity trace that cannot be read or is invalid."""


class ConfigError(CenasError):
    """An invalid configuration value."""


class DataError(CenasError):
    """An image data set (CIFAR folder, archive or batch file) that is missing or malformed."""


class CheckpointError(CenasError):
    """A training checkpoint that cannot be read or belongs to another job."""


class StudyError(CenasError):
    """A study database that is missing, corrupt or belongs to another program."""


__all__ = ["CenasError", "CheckpointError", "ConfigError", "DataError", "StudyError", "TraceError"]
