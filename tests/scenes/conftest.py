"""Shared fixtures: the skull phantom and its surfaces are built once per test session."""

from pathlib import Path

import pytest

from scenes.phantoms import PhantomKind, build_phantom
from scenes.scene import Scene
from tests.shared_data import SHARED_DATA


@pytest.fixture(scope="session")
def skull() -> Scene:
    return build_phantom(PhantomKind.SKULL, seed=0)


@pytest.fixture(scope="session")
def spine() -> Scene:
    return build_phantom(PhantomKind.SPINE, seed=0)


@pytest.fixture(scope="session")
def needle_box() -> Scene:
    return build_phantom(PhantomKind.NEEDLE_BOX, seed=0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA
