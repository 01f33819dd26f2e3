"""The single error type of the inference backends."""

from __future__ import annotations


class BackendError(RuntimeError):
    """A model file or an inference input is unusable; the message names the file and what is wrong."""
