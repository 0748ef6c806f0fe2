"""Slice-Tune: a server pool on the device and sharded tuning clients (parent side, no TVM)."""
