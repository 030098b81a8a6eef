"""Helpers shared by the tests: factories built on the schema, real-service fixtures, fault
injection, registry and metrics helpers."""
