"""ganforge: train, evaluate and sample GANs on PyTorch.

Users extend it by registering networks and losses::

    from ganforge.registry import GENERATORS
    @GENERATORS.register("my-g", MyOptions)
    class MyG(torch.nn.Module): ...
"""
__version__ = "0.1.0"
