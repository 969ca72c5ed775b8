"""kes benchmarks: the real controller process against emulators in their own processes."""
