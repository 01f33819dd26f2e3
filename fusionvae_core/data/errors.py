"""The one error type of the data package: a wrong or empty data root, a corrupt file, a bad option."""


class DatasetError(RuntimeError):
    """Data cannot be loaded as asked. The message names the path or option and the expected layout."""
