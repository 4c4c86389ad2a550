from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_list_view, name="list"),
    path("new/", views.batch_create_view, name="create"),
    path("manifest/", views.batch_manifest_view, name="manifest"),
    path("<int:pk>/", views.batch_detail_view, name="detail"),
    path("<int:pk>/zip/", views.batch_zip_view, name="zip"),
]
