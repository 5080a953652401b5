"""Capacity planning: predict a tier plan under an arrival profile and check it locally."""
