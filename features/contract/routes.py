"""Paths of the service that the command line prints and the service serves."""

from __future__ import annotations

PAGE_PATH = "/ui"  # the web page: price a listing, look up a vehicle, see the model
