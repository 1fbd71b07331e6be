"""Celery's Redis transport (kombu), made to survive a broker restart while tasks run.

When Redis goes away while a worker holds unacknowledged messages (late acknowledgement: host
work that is running), Celery closes the broken connection, and kombu's Redis channel tries to
put those messages back through a new client of a connection that is already closed. Building
that client reads the closed connection's settings and fails with `AttributeError: 'NoneType'
object has no attribute 'hostname'`, an error Celery does not expect there: the worker exits
("Unrecoverable error"). Reproduced by tests/reboots/test_broker_restart_lab.py, both pools.

Here that case raises the connection error it is, which Celery's connection handling ignores
and recovers from by reconnecting. The messages are not lost for it: Redis keeps them as
unacknowledged, and hands them out again after the visibility timeout (their work, meanwhile,
finishes or is taken over through its lease).

Selected by CELERY_BROKER_TRANSPORT when REDIS_URL is set; everything else is kombu's own.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
