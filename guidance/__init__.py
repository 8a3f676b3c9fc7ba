"""Navigation: composes scenes, devices and registration into exercises, views and the CLI."""
