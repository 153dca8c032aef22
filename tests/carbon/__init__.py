"""Tests of cenas.carbon."""
