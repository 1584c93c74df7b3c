"""Packaging beyond pyproject.toml: the top-level demo/ and themes/ ship inside the package.

They are the repository's only copy of the demo recording and the bundled themes;
the wheel, and an editable install, map them to ``meshtui.ui.demo_data`` and
``meshtui.ui.themes`` (data only: demo/'s recording script stays out).
"""

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

DATA_PACKAGES = {"meshtui.ui.demo_data": "demo", "meshtui.ui.themes": "themes"}


class BuildPy(build_py):
    """build_py that ships no Python modules from the data folders."""

    def find_package_modules(self, package, package_dir):
        if package in DATA_PACKAGES:
            return []
        return super().find_package_modules(package, package_dir)


setup(
    packages=[
        *find_namespace_packages(include=["meshtui", "meshtui.*"], exclude=["*.__pycache__"]),
        *DATA_PACKAGES,
    ],
    package_dir=DATA_PACKAGES,
    cmdclass={"build_py": BuildPy},
)
