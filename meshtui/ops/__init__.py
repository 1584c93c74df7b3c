"""Operations on nodes: generate, validate, push, restart, verify, roll back."""
