"""The few exception types a user sees. Each message names the file or parameter at fault."""

from __future__ import annotations


class HeyJoeError(Exception):
    """Base class: an error the user can act on; the CLI prints its message without a traceback."""


class ConfigError(HeyJoeError, ValueError):
    """A configuration file or parameter is unknown, missing or of the wrong type."""


class AudioError(HeyJoeError, ValueError):
    """An audio file cannot be used (empty, truncated, NaN, silent, too short, unknown format)."""


class DatasetError(HeyJoeError, ValueError):
    """A dataset is missing, incomplete, or would be overwritten with different settings."""
