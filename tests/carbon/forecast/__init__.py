"""Tests of cenas.carbon.forecast."""
