"""Benchmarks, one module per subject; run as ``python -m ferattention.bench NAME [options]``.

- :mod:`.saliency`: the attention methods against their libraries (``saliency``), Extremal
  Perturbation against TorchRay (``ep-equivalence``), and the command-line dispatcher;
- :mod:`.faces`, :mod:`.train`, :mod:`.dag`, :mod:`.workflow`, :mod:`.inference`: the other
  subcommands, each with its own ``main(argv)``.
"""
