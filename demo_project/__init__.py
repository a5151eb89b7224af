"""The auth0_drf demo: Auth0's API quickstart endpoints, protected by auth0_drf."""
