"""The portal itself: settings, login and roles, static files, API keys, health, the API contract, the admin."""
