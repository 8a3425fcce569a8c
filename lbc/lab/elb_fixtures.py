"""pytest fixtures for the lab ELBv2/EC2 server (filled in with the emulator)."""
