"""Endpoint specs and canonical mappings, shipped as package data and validated on load."""
