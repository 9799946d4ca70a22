"""Monitoring: drift, data quality, service health and performance of served models,
read from the prediction log and the reference profiles, and the rules that act on them."""
