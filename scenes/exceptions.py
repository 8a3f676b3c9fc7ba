"""Exceptions raised while loading or building scenes."""


class SceneError(Exception):
    """Base of every error raised by ``scenes``; messages name the file and what is wrong."""
