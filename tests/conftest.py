"""Shared test set-up: this folder is on sys.path, so tests import corpus and tshark_follow directly."""
