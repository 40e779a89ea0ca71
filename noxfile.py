"""The version matrix: ``make matrix`` runs the suite on every leg.

Each supported Python (3.10 to 3.13) is tested twice: against the lowest
versions of Celery, Pyramid and their kin that pyproject.toml allows
(``ci/lowest.txt`` pins them), and against the newest the package index
has. ``make matrix-ci`` runs the oldest and the newest leg only.
"""

from __future__ import annotations

import os

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
EXAMPLES = ["examples/ledger", "examples/sqlalchemy_ledger", "examples/beat"]
HERE = os.path.dirname(os.path.abspath(__file__))

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=PYTHONS)
@nox.parametrize("deps", ["lowest", "newest"])
def tests(session: nox.Session, deps: str) -> None:
    """The whole suite, without the coverage gate (it is run once, by
    ``make test``, where every line is reachable)."""
    editable = ["-e", ".[testing]"]
    for example in EXAMPLES:
        editable += ["-e", example]
    if deps == "lowest":
        session.install(
            "-c", os.path.join(HERE, "ci", "lowest.txt"), *editable
        )
    else:
        session.install("--upgrade", "--upgrade-strategy=eager", *editable)
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run(
        "python",
        "-m",
        "pytest",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )
