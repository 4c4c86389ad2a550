"""Views, one module per screen family. Each module keeps its own `urlpatterns`."""
