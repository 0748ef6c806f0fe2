"""Child side: everything that imports TVM. Run as `python -m harness.worker KIND JOB RESULT`
(harness.device.proc starts it); the parent never imports this package."""
