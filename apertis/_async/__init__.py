"""The client implementation. apertis/_async is the source of truth; apertis/_sync is generated from it."""
