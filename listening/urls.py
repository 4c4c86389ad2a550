from listening import views

app_name = "listening"

urlpatterns = views.urlpatterns
