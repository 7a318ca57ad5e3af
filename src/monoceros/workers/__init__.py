"""Worker kinds: the base lifecycle (`base`), the heartbeat file (`workertmp`) and the serving loops.

Nothing is imported here on purpose: the configuration resolves a worker kind lazily by its dotted
path (`monoceros.config.resolve`), so choosing one kind never imports another's dependencies.
"""
