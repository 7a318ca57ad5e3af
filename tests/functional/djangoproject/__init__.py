"""A small Django project for the functional tests: the admin (login with CSRF) and a form view."""
