"""An application with an outbox, for the outbox's tests and proofs.

``main(global_config, **settings)`` builds it from an ini file
(``outbox.db_url``), ``configure(db_url, ...)`` from code. Its view
``/items?value=V`` inserts an item and defers ``record`` (which reads it
back); ``&flow=1`` defers a chain of two instead, ``&fail=1``
raises after deferring, ``&doom=1`` dooms the transaction, ``&veto=1``
joins a data manager that refuses to commit.
"""

from celery import chain
from pyramid.config import Configurator
import redis
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
import zope.sqlalchemy

from services import Veto, broker_settings

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("value", sa.String(100), nullable=False),
)


def tick(request, n):
    """Count one run of ``n`` in Redis, and add an item ``tick n``."""
    settings = request.registry.settings
    client = request.registry.redis
    client.incr(f"{settings['outbox.key']}:runs:{n}")
    request.dbsession.execute(items.insert().values(value=f"tick {n}"))
    zope.sqlalchemy.mark_changed(request.dbsession)
    return n


def defer_ticks(request):
    """Defer ``tick`` (or ``tick_once``) for ``start`` to ``stop - 1``."""
    name = "tick_once" if request.params.get("once") else "tick"
    start, stop = int(request.params["start"]), int(request.params["stop"])
    for n in range(start, stop):
        request.defer_task(name, n)
    return {"deferred": stop - start}


def record(request, *args):
    """Read back the item whose id comes last."""
    return request.dbsession.execute(
        sa.select(items.c.value).where(items.c.id == args[-1])
    ).scalar()


def add_item(request):
    params = request.params
    item_id = request.dbsession.execute(
        items.insert().values(value=params["value"]).returning(items.c.id)
    ).scalar()
    zope.sqlalchemy.mark_changed(request.dbsession)
    if params.get("flow"):
        one = request.task_signature("record", item_id)
        handle = request.defer_task(
            chain(one, request.task_signature("record", item_id))
        )
    else:
        handle = request.defer_task("record", item_id)
    request.registry.handles.append(handle)
    if params.get("fail"):
        raise RuntimeError("the view failed")
    if params.get("doom"):
        request.tm.doom()
    if params.get("veto"):
        request.tm.get().join(Veto())
    return {
        "item_id": item_id,
        "task_id": handle.id,
        "delivery": handle.delivery,
    }


def configure(
    database_url, broker="memory", setup=None, session=None, **settings
):
    all_settings = broker_settings(broker) if broker else {}
    all_settings.update(settings)
    config = Configurator(settings=all_settings)
    config.include("pyramid_tm")
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.transaction")
    config.include("pyramid_tasks.outbox")
    engine = sa.create_engine(database_url)
    factory = sessionmaker(bind=engine)

    def dbsession(request):
        session = factory()
        zope.sqlalchemy.register(session, transaction_manager=request.tm)
        return session

    config.add_request_method(dbsession, "dbsession", reify=True)
    config.set_task_outbox(session or (lambda request: request.dbsession))
    config.register_task(record, name="record")
    config.register_task(tick, name="tick", ignore_result=True)
    config.register_task(
        tick, name="tick_once", idempotent=True, ignore_result=True
    )
    config.add_route("items", "/items")
    config.add_view(add_item, route_name="items", renderer="json")
    config.add_route("ticks", "/ticks")
    config.add_view(defer_ticks, route_name="ticks", renderer="json")
    redis_url = all_settings.get("outbox.redis_url")
    if redis_url:
        config.registry.redis = redis.Redis.from_url(redis_url)
    config.registry.handles = []
    config.registry.engine = engine
    if setup is not None:
        setup(config)
    return config, engine


def main(global_config, **settings):
    """The WSGI app, for ``pserve``: the database is ``outbox.db_url``."""
    config, engine = configure(settings.pop("outbox.db_url"), None, **settings)
    metadata.create_all(engine)
    return config.make_wsgi_app()


def lazy(global_config, **settings):
    """The WSGI app, without touching its database (it may be down)."""
    config, _ = configure(settings.pop("outbox.db_url"), None, **settings)
    return config.make_wsgi_app()


def rows(app_or_outbox):
    """The outbox rows, oldest first."""
    outbox = getattr(app_or_outbox, "outbox", app_or_outbox)
    table = outbox.table
    with outbox.engine.connect() as connection:
        return connection.execute(sa.select(table).order_by(table.c.id)).all()
