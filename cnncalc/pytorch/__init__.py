"""The PyTorch wing, the only place that imports torch: build an architecture as a
``torch.nn.Module``, validate predictions against it, time it, calibrate a device.

- ``device``: the one ``import torch`` (:func:`~.device.load_torch`) and device parser;
- ``builders``: one builder per layer class (a new layer type adds one here);
  ``build``: the network that runs them (:func:`cnncalc.to_torch`);
- ``validation``: :func:`cnncalc.validate`, over ``budget`` (memory counted before running,
  with ``scratch``: each module's own buffers), ``run`` (shapes, params, MACs, memory, time),
  ``rf_probe`` (receptive fields by autograd) and ``vreport`` (:class:`~.vreport.ValidationReport`);
- ``importer``: :func:`cnncalc.from_torch`, an architecture from a module by torch.fx tracing;
- ``timing``: careful wall-clock timing; ``calibrate``: the sweep that fits a device profile.

Importing any of these does not import torch: it is imported on first use, and a missing torch
is an error that says how to install it."""
