"""Inventory upload for admins: preview an import (dry run), then apply it."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core.roles import admin_required
from core.views import UNPROCESSABLE, viewer_required
from fleet.inventory import InventoryError, import_text
from fleet.views.forms import InventoryUploadForm


@require_http_methods(["GET", "POST"])
@viewer_required
@admin_required
def upload(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: preview or import; a preview carries the file text to the import."""
    if request.method == "GET":
        return render(request, "fleet/inventory.html", {"form": InventoryUploadForm()})

    form = InventoryUploadForm(request.POST, request.FILES)
    result = None
    dry_run = True
    if form.is_valid():
        data = form.cleaned_data
        dry_run = data["action"] != "import"
        try:
            result = import_text(
                data["text"],
                data["filename"],
                prune=data["prune"],
                actor=request.user,
                dry_run=dry_run,
                allow_group_shrink=data["allow_group_shrink"],
            )
        except InventoryError as exc:
            form.add_error(None, str(exc))

    if result is None:
        return render(request, "fleet/inventory.html", {"form": form}, status=UNPROCESSABLE)

    data = form.cleaned_data
    if not dry_run:
        messages.success(request, f"Imported {data['filename']}.")
    # The preview form carries the text, so "Import" applies exactly what was previewed.
    confirm = InventoryUploadForm(
        initial={
            "text": data["text"],
            "filename": data["filename"],
            "prune": data["prune"],
            "allow_group_shrink": data["allow_group_shrink"],
            "action": "import",
        }
    )
    context = {"form": confirm, "result": result, "dry_run": dry_run, "filename": data["filename"]}
    return render(request, "fleet/inventory.html", context)
