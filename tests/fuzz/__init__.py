"""A mutation fuzzer for every reader Strata has: seeds, mutations, a runner.

``bench/fuzz.py`` runs it at full size; ``tests/fuzz/test_fuzz_subset.py``
runs a small seeded subset in the test suite.
"""
