"""What the server tells the operator: the error log, the access log (atoms, text and JSON formats, the
buffered writer), log configuration, syslog and StatsD. The serving path talks to it through
``monoceros.observability.sink.AccessSink``."""
