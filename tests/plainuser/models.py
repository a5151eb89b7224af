"""A user model with a handle and a nickname only: what USER_FIELDS' system check must see through."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import models


class PlainUser(AbstractBaseUser):
    handle = models.CharField(max_length=40, unique=True)
    nickname = models.CharField(max_length=20, blank=True, default="")
    is_staff = models.BooleanField(default=False)

    USERNAME_FIELD = "handle"

    class Meta:
        app_label = "plainuser"
