import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shakeweb.settings")
application = get_wsgi_application()

# gunicorn does not run Django's system checks: the ones that must stop a start run here.
from shakeweb.checks import refuse_to_start  # noqa: E402

refuse_to_start()
