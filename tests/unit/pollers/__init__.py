"""Tests of the Zoho client and pollers."""
