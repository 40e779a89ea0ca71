"""Tables, the engine and ``request.dbsession``."""

from datetime import datetime
import logging
import time

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    engine_from_config,
    func,
)
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
import zope.sqlalchemy

from pyramid_tasks import CeleryWorkerProcessInit

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class Entry(Base):
    """One value appended to the ledger."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Total(Base):
    """A total computed by a task, kept as the ledger's history."""

    __tablename__ = "ledger_totals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


def get_tm_session(session_factory, transaction_manager):
    """A session joined to ``transaction_manager``: it commits with it."""
    session = session_factory()
    zope.sqlalchemy.register(session, transaction_manager=transaction_manager)
    return session


def create_tables(engine, attempts=3):
    """Create the tables that do not exist yet.

    The web app and the worker may start together; when both create a
    table at once, one of them fails and the next attempt finds it.
    """
    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine)
            return
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def reset_engine_after_fork(event):
    """Drop the connections a prefork worker child inherited."""
    event.registry["dbengine"].dispose(close=False)
    log.info("database engine reset in worker process")


def includeme(config):
    """Add ``request.dbsession``, bound to the request's ``request.tm``."""
    settings = config.get_settings()
    engine = engine_from_config(settings, "sqlalchemy.")
    create_tables(engine)
    session_factory = sessionmaker(bind=engine)
    config.registry["dbengine"] = engine
    config.registry["dbsession_factory"] = session_factory
    config.add_request_method(
        lambda request: get_tm_session(session_factory, request.tm),
        "dbsession",
        reify=True,
    )
    config.add_subscriber(reset_engine_after_fork, CeleryWorkerProcessInit)
