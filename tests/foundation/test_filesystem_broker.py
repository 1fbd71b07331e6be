"""The demo's broker (no Redis): a worker polling the queue never takes a half-written message.

kombu's filesystem transport opens a message's file, then serializes and writes it; a worker
that polls in between moves the empty file away and dies decoding it. The README walk's demo
worker died so in CI on a busy machine (`JSONDecodeError: Expecting value`), and the demo with
it. Each test below polls at that very moment: while the message is being serialized.
"""

import json
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem as kombu_filesystem

from config import broker


def channel(tmp_path, transport):
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "store_processed": False,
        "control_folder": str(folders["control"]),
    }
    return Connection(transport=transport, transport_options=options).channel()


def polled_while_serializing(monkeypatch, module, queue):
    """Make `module`'s dumps poll the queue first; what each poll found."""
    found = []
    real = module.dumps

    def dumps(payload):
        try:
            found.append(queue._get("celery"))
        except Empty:
            found.append("nothing")
        except json.JSONDecodeError:
            found.append("a half-written message")
        return real(payload)

    monkeypatch.setattr(module, "dumps", dumps)
    return found


def test_a_message_being_written_is_not_taken_and_arrives_whole(tmp_path, monkeypatch):
    queue = channel(tmp_path, broker.FilesystemTransport)
    found = polled_while_serializing(monkeypatch, broker, queue)

    queue._put("celery", {"body": "audit web-b-02"})

    assert found == ["nothing"]
    assert queue._get("celery") == {"body": "audit web-b-02"}
    with pytest.raises(Empty):
        queue._get("celery")


def test_kombus_own_transport_still_hands_out_a_half_written_message(tmp_path, monkeypatch):
    # Why FilesystemTransport exists. When this fails, kombu writes messages whole itself and
    # the subclass in config/broker.py can go.
    queue = channel(tmp_path, kombu_filesystem.Transport)
    found = polled_while_serializing(monkeypatch, kombu_filesystem, queue)

    queue._put("celery", {"body": "audit web-b-02"})

    assert found == ["a half-written message"]


def test_the_demo_settings_pick_it(settings):
    if settings.CELERY_BROKER_URL == "filesystem://":
        assert settings.CELERY_BROKER_TRANSPORT == "config.broker:FilesystemTransport"
    else:
        assert settings.CELERY_BROKER_TRANSPORT == "config.broker:Transport"
