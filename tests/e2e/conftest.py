"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest
import sqlalchemy

import services


def _postgres_url(database: str) -> str:
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the tests have
    # psycopg2.
    url = sqlalchemy.make_url(services.POSTGRES_URL)
    return url.set(drivername="postgresql+psycopg2", database=database)


@pytest.fixture(scope="module")
def postgres_database():
    """A PostgreSQL database of this module's own, dropped at the end."""
    services.require("postgres")
    name = services.unique("ledger")
    admin = sqlalchemy.create_engine(
        _postgres_url(sqlalchemy.make_url(services.POSTGRES_URL).database),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            )
        admin.dispose()
