"""The local cloud: moto in process, fleetpatch's simulators and adapters, one clock.

Layers, bottom to top (tests/unit/localcloud/test_layers.py checks the order and that no
import cycle exists):

* ``localcloud.core``: the simulated clock, the registry of the running cloud, fault
  injection, AWS's rate limits, IAM enforcement, the one way to patch moto
  (``motopatch``), the ``Cloud`` protocol simulators are typed against, event emitters.
* ``localcloud.sim``: the simulators (fleet and SSM agent, patch catalogue and baselines,
  maintenance windows, Auto Scaling, Scheduler); they import only the core.
* ``localcloud.adapters``: moto adapters; each ``install(cloud)`` patches moto once per
  process and routes it to the running cloud's simulator through the registry.
* the deployer (the SAM template into the cloud).
* ``localcloud.cloud.LocalCloud``, the one composition root, and on top the runner,
  recorder, timeline, server and scenario model. localcloud never imports the CLI.
"""
