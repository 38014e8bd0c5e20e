"""Online models (plain classes, no Bytewax, no I/O, no clock): detectors and forecasters."""
