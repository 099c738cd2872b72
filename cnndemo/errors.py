"""Errors a user can be shown as they are."""


class BadInputError(ValueError):
    """A user's file or setting that cnndemo refuses, with a message a student understands."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that cannot be had here (offline and not cached, or not shipped)."""


class IncompleteInstallError(RuntimeError):
    """cnndemo's own files (its shipped checkpoints) are missing: a broken installation, never random weights."""
