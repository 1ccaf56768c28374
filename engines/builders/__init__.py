"""One builder table per framework, keyed by the layer catalogue's type names.

torch_layers.TORCH_BUILDERS makes PyTorch modules and transplants the numpy initial weights
into them; keras_layers.KERAS_BUILDERS makes Keras layers holding the same weights. Neither
module imports its framework: the engine passes it in, so importing this package stays cheap.
"""
