"""End-to-end tests: the real demo server, an independent OpenID provider, real HTTP."""
