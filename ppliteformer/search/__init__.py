"""Budget search (``ppliteformer search SEARCH.yaml``): the best compression recipe within a phone's
budget of arm `.nb` bytes, ARM instructions and accuracy drop, scored on the ARM kernels (driver.py)."""
