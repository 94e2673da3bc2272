//! What MeshTune reads from the platform itself (the rest comes from the app's samples).
pub mod process;
