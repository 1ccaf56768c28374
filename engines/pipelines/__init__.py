"""Input pipelines: each framework's own way of reading and preprocessing samples on the way to
the model (tf.data against torch DataLoader), driven and timed by one framework-neutral feed.

feed.py times the loader (first batch, loader alone, wait per step) the same for both;
torch_input.py and tf_input.py build the framework's pipeline, with its own ops. Frameworks are
imported only inside those two modules, when an engine builds its pipeline.
"""
