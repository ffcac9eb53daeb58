"""``dlcore.utils``: PyTorch-style utilities (``dlcore.utils.dlpack``)."""
