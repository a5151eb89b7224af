"""ASGI entry point of the demo project (``uvicorn demo_project.asgi:application --lifespan off``).

Sync DRF views run in a thread per request (Django's ``sync_to_async``), and so does the
authentication of adrf's async views (adrf calls ``APIView.initial`` through ``sync_to_async``):
the JWKS fetch and the user lookup never block the event loop. docs/workers.md says more.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
application = get_asgi_application()
