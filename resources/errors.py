"""Errors with messages meant for people: they say what happened and what to do."""


class PressRAGError(Exception):
    """Base for errors we expect and explain."""


class SourceError(PressRAGError):
    """A WordPress source could not be read (unreachable, malformed, refused)."""


class ExtractionError(PressRAGError):
    """A document or file yielded no usable text."""


class ConfigError(PressRAGError):
    """Settings are missing or contradict what is stored."""
