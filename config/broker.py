"""Celery's transports (kombu), with two failures that stopped workers mended.

**Redis: surviving a broker restart while tasks run.**

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

**Filesystem (the demo, no Redis): a message is never seen half written.** kombu's filesystem
transport creates a message's file and then writes it; a worker polling the folder in between
moves the still-empty file away, fails to decode it (`JSONDecodeError: Expecting value`) and
exits, taking the demo down (seen with the machine busy). Here a message is written under a name
the worker does not read (`….msg.part`) and renamed into place, which is atomic on POSIX.
Selected by CELERY_BROKER_TRANSPORT without REDIS_URL.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem as kombu_filesystem
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


class FilesystemChannel(kombu_filesystem.Channel):
    def _put(self, queue, payload, **kwargs) -> None:
        # kombu's name (its time prefix keeps the queue in order); only the writing changes.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        partial = path + ".part"  # not `<queue>.msg`: no reader takes it
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class FilesystemTransport(kombu_filesystem.Transport):
    Channel = FilesystemChannel
