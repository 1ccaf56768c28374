"""Data-parallel training with the frameworks' own engines: N replica processes per engine.

PyTorch runs `torch.distributed` + DistributedDataParallel (gloo on CPU, NCCL on CUDA);
TensorFlow runs MultiWorkerMirroredStrategy (TF_CONFIG on loopback ports) with a custom loop.
Every step all replicas together take the one-worker run's global batch, in contiguous equal
slices, from identical weights, so the losses match the one-worker run (SGD, float32).

The replica group (group.py) is an EngineHost like any other: the runner's turns, stall
watchdog and results see one engine. Nothing here imports a framework at module level.
"""
