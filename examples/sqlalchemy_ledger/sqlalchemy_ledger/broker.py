"""Look for new tasks in a SQL broker more often than once a second.

kombu's SQLAlchemy transport polls its table every ``polling_interval``
seconds, one by default. The usual way to change it,
``celery.broker_transport_options.polling_interval``, fails with this
transport (kombu 5.7 hands every transport option to
``sqlalchemy.create_engine``, which rejects it), so this worker step sets
the interval on the worker's connection instead.
"""

from celery import bootsteps

#: Seconds between two looks at a SQL broker.
POLLING_INTERVAL_SETTING = "ledger.sql_broker_polling_interval"
DEFAULT_POLLING_INTERVAL = 0.1


class SQLBrokerPolling(bootsteps.StartStopStep):
    """Set the polling interval of the worker's SQL broker connection."""

    requires = {"celery.worker.consumer.connection:Connection"}

    def start(self, consumer):
        transport = consumer.connection.transport
        if getattr(transport, "driver_type", None) == "sql":
            settings = consumer.app.registry.settings
            transport.polling_interval = float(
                settings.get(
                    POLLING_INTERVAL_SETTING, DEFAULT_POLLING_INTERVAL
                )
            )


def includeme(config):
    config.registry.celery_app.steps["consumer"].add(SQLBrokerPolling)
