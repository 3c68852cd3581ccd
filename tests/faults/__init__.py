"""The fault-tolerance suite (issue 8): ten kinds of trouble, real processes, real LSL, a real server.

A package (``faults.*``), so its ``conftest.py`` does not displace ``tests/conftest.py`` as the module
``conftest`` that the other test files import from.
"""
