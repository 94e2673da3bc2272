#![forbid(unsafe_code)]
//! uniffi's binding generator, built from this crate so its version always matches the
//! library's. Used by `scripts/generate-bindings.sh`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
