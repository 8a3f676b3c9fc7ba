"""Exceptions raised by the registration core."""


class RegistrationError(ValueError):
    """Input that no registration can be computed from (wrong shape, NaN, degenerate geometry)."""
