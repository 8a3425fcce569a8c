"""AWS adapters: the only code that speaks ELBv2 and EC2."""
