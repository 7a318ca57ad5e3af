-- GET with "Connection: close": the server must close after every answer, wrk reconnects.
wrk.headers["Connection"] = "close"
