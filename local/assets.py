"""Where the local stack finds the repository files it reads: template.yaml, events/, spapi-models/.

A checkout has them at its root. A wheel carries copies inside this package (``setup.py`` copies
``BUNDLED_PATHS`` into ``local/_bundled/`` at build time), so ``sp-relay local`` and ``sp-relay demo``
work from any directory after ``pip install 'sp-relay[local]'``, and an editable install keeps
reading the checkout's own files. Standard library only: ``setup.py`` loads this file by path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

BUNDLED_PATHS: Final = ("template.yaml", "events", "spapi-models")
BUNDLE_DIR_NAME: Final = "_bundled"

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLE_DIR = _PACKAGE_DIR / BUNDLE_DIR_NAME
_CHECKOUT_DIR = _PACKAGE_DIR.parent


class MissingRepositoryFile(Exception):
    """Neither the installed package nor a checkout around it holds a file the local stack reads."""


def repository_path(name: str) -> Path:
    """The path of ``name`` (one of ``BUNDLED_PATHS``): the wheel's copy, else the checkout's."""
    if name not in BUNDLED_PATHS:
        raise ValueError(f"{name!r} is not bundled; bundled are {', '.join(BUNDLED_PATHS)}")
    for root in (_BUNDLE_DIR, _CHECKOUT_DIR):
        if (root / name).exists():
            return root / name
    raise MissingRepositoryFile(
        f"{name} is neither in this installation ({_BUNDLE_DIR}) nor in a checkout at {_CHECKOUT_DIR}: "
        "reinstall sp-relay from a wheel, or run from a clone of the repository"
    )
