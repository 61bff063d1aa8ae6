import pytest


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="run the long sweeps marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    opt_in = pytest.mark.skip(reason="long sweep: opt in with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(opt_in)
