"""Differentiable primitives, one concept per file; each op's forward sits beside its backward."""
