"""The user's application: loading it (``module:callable``, factories, PasteDeploy), watching its files for
``--reload``, and ``--spew`` tracing."""
