#![forbid(unsafe_code)]
//! Samples in, statistics out: validation, streaming quantiles, sliding windows, and the
//! collector that turns samples into `PerformanceMetrics`.
pub mod collector;
pub mod sample;
pub mod sketch;
pub mod window;
