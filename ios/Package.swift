// swift-tools-version:5.9
// MeshTune for iOS apps: the generated Swift API over the Rust core, plus the iOS glue
// (collectors, an action applier for CoreBluetooth, AsyncStream wrappers).
//
// On Apple platforms MeshTuneFFI is the XCFramework built by scripts/build-xcframework.sh
// (libmeshtune.a for aarch64-apple-ios, and one simulator slice for aarch64-apple-ios-sim +
// x86_64-apple-ios, with the C header and module map). That script also copies the generated
// MeshTune.swift into Sources/MeshTune/Generated/. Both are git-ignored: run it first.
//
// On Linux (scripts/test-ios.sh only) the same MeshTune target and tests are built against the
// host libmeshtune.so, as bindings/swift does: MeshTuneFFI is then a system library target
// whose header and module map the script copies into LinuxFFI/MeshTuneFFI/. One manifest, not
// two, so that the Linux run compiles exactly the target definition (sources, paths) that apps
// get; a second manifest could not point at ../Sources anyway (SwiftPM keeps target paths
// inside the package root).
import PackageDescription

#if os(Linux)
    import Foundation

    // The directory holding libmeshtune.so: the repository's target/release unless
    // MESHTUNE_LIB_DIR says otherwise.
    let libDir =
        ProcessInfo.processInfo.environment["MESHTUNE_LIB_DIR"]
        ?? URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // ios
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("target/release").path

    let ffiTarget: Target = .systemLibrary(name: "MeshTuneFFI", path: "LinuxFFI/MeshTuneFFI")
    let meshTuneLinkerSettings: [LinkerSetting] = [
        .linkedLibrary("meshtune"),
        .unsafeFlags(["-L", libDir, "-Xlinker", "-rpath", "-Xlinker", libDir]),
    ]
#else
    let ffiTarget: Target = .binaryTarget(name: "MeshTuneFFI", path: "MeshTuneFFI.xcframework")
    // What the Rust static library needs from the system besides libSystem (the Rust standard
    // library; CoreFoundation was sysinfo's, which is gone, and stays until a macOS build shows
    // that `native-static-libs` no longer asks for it); scripts/build-xcframework.sh checks this
    // list against `rustc --print native-static-libs` and stops if a framework is missing here.
    let meshTuneLinkerSettings: [LinkerSetting] = [
        .linkedFramework("CoreFoundation"),
        .linkedLibrary("iconv"),
    ]
#endif

let package = Package(
    name: "MeshTune",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "MeshTune", targets: ["MeshTune"])
    ],
    targets: [
        ffiTarget,
        // Generated/MeshTune.swift (uniffi) + the glue. Apple-only files are wrapped in
        // `#if canImport(UIKit)` / `#if canImport(CoreBluetooth)`; the rest builds everywhere.
        .target(
            name: "MeshTune",
            dependencies: ["MeshTuneFFI"],
            path: "Sources/MeshTune",
            linkerSettings: meshTuneLinkerSettings
        ),
        // Glue tests: mappings, stream wrapper, acknowledgements, and a session against the
        // real core. Linux: scripts/test-ios.sh; Mac: xcodebuild test on an iOS simulator.
        .testTarget(
            name: "MeshTuneTests",
            dependencies: ["MeshTune"],
            path: "Tests/MeshTuneTests"
        ),
    ]
)
