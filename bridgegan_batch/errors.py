"""Errors a user can act on: the CLI prints their message and exits 2, without a traceback."""


class UserError(Exception):
    """Bad input from the user (a path, a field, a file); the message names it."""


class DataError(UserError):
    """A dataset path, pattern or file that cannot be used."""


class ConfigError(UserError):
    """A config or job file that does not validate."""
