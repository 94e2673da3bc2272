#![forbid(unsafe_code)]
//! What MeshTune reads from the platform itself (the rest comes from the app's samples).
pub mod logging;
pub mod process;
