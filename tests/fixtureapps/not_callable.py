"""`application` exists but is not callable: loading it must fail with exit code 4 (AppImportError)."""

application = "I am a string, not a WSGI callable"
