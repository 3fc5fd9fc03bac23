"""Build hook only (everything else is in pyproject.toml): the wheel carries the repository files
that the local stack reads, so `sp-relay local` / `demo` run outside a checkout. See local/assets.py."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

_ASSETS = runpy.run_path(str(Path(__file__).resolve().parent / "local" / "assets.py"))


class BuildPyWithRepositoryFiles(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout itself
            return
        target = Path(self.build_lib) / "local" / _ASSETS["BUNDLE_DIR_NAME"]
        for name in _ASSETS["BUNDLED_PATHS"]:
            source = Path(name)
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithRepositoryFiles})
