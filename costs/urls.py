from costs import views

app_name = "costs"

urlpatterns = views.urlpatterns
