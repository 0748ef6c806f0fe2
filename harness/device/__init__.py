"""The device: shares of it, its MPS daemon, processes placed on shares, utilisation samples."""
