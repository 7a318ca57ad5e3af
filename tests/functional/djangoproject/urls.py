"""The admin, and a view that takes a CSRF-protected form post."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import path


def note(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse(f"saved {request.POST['text']}")
    return HttpResponse(f"token={get_token(request)}")


urlpatterns = [path("admin/", admin.site.urls), path("note/", note)]
