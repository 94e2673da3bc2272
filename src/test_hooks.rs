#![forbid(unsafe_code)]
//! A test-only switch that forces a panic at a named place inside MeshTune, so that the Kotlin
//! and Swift suites can check that no panic ends the host app. Compiled only with the cargo
//! feature `test-hooks`, which the test command's build enables and no app build does
//! (`scripts/build-android.sh` and `scripts/build-xcframework.sh` do not).
//!
//! Places: `snapshot`, `stop`, `tick`, `fast_path_handle`, `is_action_current`, `ble` (every
//! `BleCoordinator` call).

use std::sync::Mutex;

static ARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Makes the next call that reaches `site` panic, once.
#[uniffi::export]
pub fn meshtune_test_arm_panic(site: String) {
    ARMED.lock().unwrap_or_else(|p| p.into_inner()).push(site);
}

/// Panics if `site` was armed (and disarms it).
pub(crate) fn check(site: &str) {
    let fire = {
        let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
        match armed.iter().position(|s| s == site) {
            Some(i) => {
                armed.remove(i);
                true
            }
            None => false,
        }
    };
    if fire {
        #[allow(clippy::panic)]
        {
            panic!("meshtune test hook: forced panic at {site}");
        }
    }
}
