# On PYTHONPATH (first) of every process slicetune starts that needs no torch: tvm_ffi imports
# torch whenever it is installed, seconds per process (harness.device.proc.spawn).
raise ImportError("torch is kept out of this slicetune process (it needs none); see harness/device/proc.py")
