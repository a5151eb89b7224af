"""Protect a Django REST framework API with Auth0 access tokens."""

__version__ = "0.1.0"
