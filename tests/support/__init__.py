"""Helpers the test folders share that are not fixtures."""
