"""The dashboard: a static page served by the API and the JSON it reads."""
