"""The version matrix: the whole test suite on each Python and Django version pyproject.toml claims.

Run ``bash bin/matrix`` (finds the interpreters, then runs nox), or ``nox`` with python3.10 ...
python3.13 on PATH; ``nox -l`` lists the sessions, ``nox -s "tests(py3.13-django6.1)"`` runs one,
and arguments after ``--`` go to pytest (``nox -- -m "not e2e and not browser"``). README, "Testing
auth0_drf itself", says more.

Each session is a fresh virtualenv holding one combination: the supported versions' oldest
(Python 3.10, Django 4.2, DRF 3.15, and the floors declared for PyJWT, cryptography and requests),
the newest (Python 3.13, Django 6.0 and 6.1, the newest DRF, PyJWT, cryptography and requests),
and one in between for each Django release line. The test tools come from requirements-test.txt,
pinned, so that only the versions under test change from one session to the next.
"""

from __future__ import annotations

import nox

# A session whose interpreter is missing fails: it never passes by being skipped.
nox.options.error_on_missing_interpreters = True
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

# The floors of pyproject.toml's dependencies, tested together in the oldest session. Keep them equal.
FLOORS = ["PyJWT[crypto]==2.7.0", "cryptography==3.4.8", "requests==2.32.2"]

# (Python, Django, pins): each Django release line the classifiers name, on one Python that supports it.
MATRIX = [
    nox.param("3.10", "4.2", ["djangorestframework~=3.15.0", *FLOORS], id="py3.10-django4.2-lowest"),
    nox.param("3.11", "5.1", ["djangorestframework~=3.17.0"], id="py3.11-django5.1"),
    nox.param("3.12", "5.2", ["djangorestframework~=3.16.0"], id="py3.12-django5.2"),
    # The newest of everything: DRF, PyJWT, cryptography and requests unpinned.
    nox.param("3.13", "6.0", [], id="py3.13-django6.0"),
    nox.param("3.13", "6.1", [], id="py3.13-django6.1"),
]


@nox.session
@nox.parametrize("python, django, pins", MATRIX)
def tests(session: nox.Session, django: str, pins: list[str]) -> None:
    """Install auth0_drf (built from this checkout) with one version set, then run the whole suite."""
    # One resolve for everything, so that pip checks the pins against pyproject.toml's ranges:
    # a floor lower than what is declared fails here instead of being silently upgraded.
    session.install(".[test]", f"Django~={django}.0", *pins, "-r", "requirements-test.txt")
    session.run("python", "-m", "pip", "check")
    session.run(
        "python",
        "-c",
        "import django, rest_framework, jwt, cryptography, requests, sys; "
        "print('Python', sys.version.split()[0], '| Django', django.__version__, '| DRF', rest_framework.__version__, "
        "'| PyJWT', jwt.__version__, '| cryptography', cryptography.__version__, '| requests', requests.__version__)",
    )
    # On SQLite: PostgreSQL and MariaDB have bin/test-postgres and bin/test-mysql.
    session.run("python", "-m", "pytest", "-q", *session.posargs, env={"DATABASE_URL": None})  # None: unset
