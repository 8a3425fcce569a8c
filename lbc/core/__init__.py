"""The pure domain core: values and decisions, no I/O, no clock, no logging."""
