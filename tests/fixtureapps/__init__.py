"""WSGI applications that the loader and server tests import by `module:expression`."""
