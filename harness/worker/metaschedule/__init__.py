"""Our MetaSchedule components, one a file in TVM's style (s_tir/meta_schedule/builder/,
measure_callback/, task_scheduler/): a builder, timing probes around the builder and runner,
measure callbacks, the per-round recorder they report to, and the rolling scheduler."""
