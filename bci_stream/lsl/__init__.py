"""Every liblsl call of the service: stream info, resolve and checks, inlet pulls, outlets, clock offset."""
