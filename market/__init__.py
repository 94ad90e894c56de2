"""Prices, the trading calendar, returns, and the statistics of sentiment against returns."""
