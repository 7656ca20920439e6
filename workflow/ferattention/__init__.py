"""ferattention: human and machine attention in facial expression recognition.

The science of the workflow lives here as plain functions on arrays and data frames; the
Snakemake rules only read inputs, call these functions and write outputs.
"""

__version__ = "0.1.0"
