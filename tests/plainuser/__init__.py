"""A test app with a custom user model that has no email, names or groups (tests/test_usersync.py)."""
