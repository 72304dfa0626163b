"""WSGI entry point of the provisioning network's listener (gunicorn project.provisioning_wsgi --bind
<the provisioning VLAN's address>): only the endpoints machines call (see project/listeners.py)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from project.listeners import ProvisioningListener  # noqa: E402 - needs the settings module set

application = ProvisioningListener(get_wsgi_application())
