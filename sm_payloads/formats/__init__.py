"""One module per wire format, each with the same verbs: ``encode``, ``decode``,
``iter_decode`` (framed formats) and a codec class for the registry."""
