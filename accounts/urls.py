from django.urls import include, path

from accounts import views

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include((views.urlpatterns, "accounts"))),
]
