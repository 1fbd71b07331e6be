from django.urls import path

from traffic import views

app_name = "traffic"

urlpatterns = [
    path("drained/", views.drained_panel, name="drained"),
    path("hosts/<hostname:name>/", views.host_panel, name="host"),
    path("hosts/<hostname:name>/put-back/", views.put_back, name="put-back"),
]
