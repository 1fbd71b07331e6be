import pytest


def test_it_answers_healthz_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_reports_ready_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_it_reports_unready_when_the_broker_is_unreachable(client, settings):
    from config.celery import app

    # A Redis broker nobody answers on, with the transport settings pick for Redis.
    original = app.conf.broker_url, app.conf.broker_transport
    app.conf.broker_url, app.conf.broker_transport = (
        "redis://127.0.0.1:1/0",
        "config.broker:Transport",
    )
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url, app.conf.broker_transport = original
    assert response.status_code == 503
    assert any(problem.startswith("broker:") for problem in response.json()["problems"])


@pytest.mark.redis
@pytest.mark.django_db
def test_it_round_trips_a_message_through_the_redis_broker(client, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (a real Redis server)")
    import uuid

    from config.celery import app

    assert app.conf.broker_url.startswith("redis://")
    assert client.get("/readyz").json()["broker"] == "redis"
    name = f"rebootable-test-{uuid.uuid4().hex}"
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(name)
        try:
            queue.put({"hello": "redis"})
            message = queue.get(block=True, timeout=5)
            message.ack()
            assert message.payload == {"hello": "redis"}
        finally:
            queue.clear()
            queue.close()
