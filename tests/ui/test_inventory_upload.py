"""Inventory upload for admins: preview (dry run), then import exactly what was previewed."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.models import Host, RedundancyGroup

pytestmark = pytest.mark.django_db

URL = "/admin-tools/inventory/"
INI = b"""\
[web]
web01 ansible_host=10.0.0.1
web02 ansible_host=10.0.0.2
[web:vars]
rebootable_max_unavailable=1
[db]
db01 ansible_port=2200
"""


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def test_it_shows_the_upload_form_to_an_admin(admin_client_role):
    response = admin_client_role.get(URL)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_it_refuses_the_page_to_operators_and_viewers(operator_client, viewer_client):
    assert operator_client.get(URL).status_code == 403
    assert viewer_client.post(URL, {"action": "import", "text": "[web]\nx\n"}).status_code == 403
    assert not Host.objects.exists()


def test_it_previews_without_writing_and_carries_the_text_to_the_import(admin_client_role):
    response = admin_client_role.post(
        URL, {"file": upload("hosts.ini", INI), "action": "preview", "prune": "on"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "dry run: nothing written" in body and "3 created" in body
    assert not Host.objects.exists()
    assert 'name="text"' in body and "web01 ansible_host=10.0.0.1" in body
    assert '<input type="hidden" name="prune" value="on">' in body

    applied = admin_client_role.post(
        URL, {"text": INI.decode(), "filename": "hosts.ini", "action": "import"}
    )
    assert applied.status_code == 200 and "Imported hosts.ini" in applied.content.decode()
    assert sorted(Host.objects.values_list("name", flat=True)) == ["db01", "web01", "web02"]
    assert RedundancyGroup.objects.get(name="web").max_unavailable == "1"
    assert Host.objects.get(name="db01").labels == ["group=db"]


def test_it_prunes_hosts_that_left_the_file_only_when_asked(admin_client_role, make_host):
    make_host("old-host")
    admin_client_role.post(URL, {"file": upload("hosts.ini", INI), "action": "import"})
    assert Host.objects.filter(name="old-host").exists()
    admin_client_role.post(
        URL, {"file": upload("hosts.ini", INI), "action": "import", "prune": "on"}
    )
    assert not Host.objects.filter(name="old-host").exists()


def test_it_names_the_line_of_a_malformed_file_and_imports_nothing(admin_client_role):
    broken = INI + b"[web:children\n"
    response = admin_client_role.post(
        URL, {"file": upload("broken.ini", broken), "action": "import"}
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "broken.ini:8:" in body
    assert not Host.objects.exists()


def test_it_refuses_a_file_that_is_not_text(admin_client_role):
    response = admin_client_role.post(
        URL, {"file": upload("hosts.ini", b"[web]\nweb01\n\xff\xfe\x00"), "action": "preview"}
    )
    assert response.status_code == 422
    assert "hosts.ini:3: the file is not UTF-8 text" in response.content.decode()


def test_it_asks_for_a_file_when_none_was_chosen(admin_client_role):
    response = admin_client_role.post(URL, {"action": "preview"})
    assert response.status_code == 422
    assert "Choose an inventory file to upload." in response.content.decode()
