"""Errors of the models package. The CLI shows their message as one line."""


class ModelError(Exception):
    """Base class for a problem with loading, training or running a model, phrased for the user."""


class ModelSpecError(ModelError):
    """A ``--model`` spec that names no known model, or a model whose labels cannot be mapped."""


class LabeledDataError(ModelError):
    """A labeled data file that cannot be read or whose labels cannot be mapped onto LABELS."""
