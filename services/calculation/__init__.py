"""Calculation engine ("the kitchen"): compiles KPI formulas and computes values on demand, in
batches and continuously.
"""
