from django.urls import include, path

from approvals import views

urlpatterns = [path("", include((views.urlpatterns, "approvals")))]
