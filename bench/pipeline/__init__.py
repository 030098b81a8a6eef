"""`python -m bench.pipeline`: the whole pipeline at several sizes, each stage measured."""
