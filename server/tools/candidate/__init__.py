"""Scripted candidates: real aiortc peers streaming real media files, for tests and load tests."""
