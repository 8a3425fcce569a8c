"""Ingress -> ALB and Service -> NLB stacks as pure values (model, names, builders)."""
