"""Shared test fixtures live in tests/fixtures/; each module owns one stand-in."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.meibel",
    "tests.fixtures.slack",
    "tests.fixtures.discord",
]
