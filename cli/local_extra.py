"""The ``local`` extra: what ``sp-relay local`` and ``sp-relay demo`` need beyond a plain install.

A plain ``pip install sp-relay`` gives the operator commands; the local stack (moto server, SAM
transform, SP-API emulator) comes with ``pip install 'sp-relay[local]'``. Without it those two
commands say so in one line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import typer

from local.assets import MissingRepositoryFile

LOCAL_EXTRA: Final = "local"
# Import names of what pyproject.toml's `local` extra installs; tests/unit/test_packaging.py checks
# that every third-party import of local/ and emulator/ beyond the core dependencies is listed here.
LOCAL_EXTRA_MODULES: Final = frozenset({"jsonschema", "moto", "samtranslator", "werkzeug", "yaml"})
# Exit status when the installation cannot run the command (not a failed run).
NOT_INSTALLED_EXIT: Final = 2


@contextmanager
def local_stack_installed(command: str) -> Iterator[None]:
    """Turn a missing local-stack dependency or repository file into one line and exit status 2."""
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in LOCAL_EXTRA_MODULES:
            raise
        typer.echo(
            f"sp-relay {command} needs the '{LOCAL_EXTRA}' extra (module {missing!r} is not installed): "
            f"pip install 'sp-relay[{LOCAL_EXTRA}]' (or pipx / uv tool install 'sp-relay[{LOCAL_EXTRA}]')",
            err=True,
        )
        raise typer.Exit(NOT_INSTALLED_EXIT) from None
    except MissingRepositoryFile as error:
        typer.echo(f"sp-relay {command} cannot start the local stack: {error}", err=True)
        raise typer.Exit(NOT_INSTALLED_EXIT) from None
