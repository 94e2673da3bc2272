// swift-tools-version:5.9
// The Swift-on-Linux test harness of MeshTune (run it with scripts/test-swift.sh).
//
// MeshTuneFFI (C header + module map) and MeshTune (MeshTune.swift) are generated from
// target/release/libmeshtune.so by scripts/generate-bindings.sh; scripts/test-swift.sh copies
// them into Sources/ before building. They are git-ignored.
import Foundation
import PackageDescription

// The directory holding libmeshtune.so: the repository's target/release, unless
// MESHTUNE_LIB_DIR says otherwise.
let libDir =
    ProcessInfo.processInfo.environment["MESHTUNE_LIB_DIR"]
    ?? URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // bindings/swift
    .deletingLastPathComponent()  // bindings
    .deletingLastPathComponent()  // repository
    .appendingPathComponent("target/release").path

let package = Package(
    name: "MeshTune",
    products: [
        .library(name: "MeshTune", targets: ["MeshTune"])
    ],
    targets: [
        // The C declarations of libmeshtune's exported functions (generated header + module map).
        .systemLibrary(name: "MeshTuneFFI", path: "Sources/MeshTuneFFI"),
        // The generated Swift API, linked against the host-built libmeshtune.so.
        .target(
            name: "MeshTune",
            dependencies: ["MeshTuneFFI"],
            path: "Sources/MeshTune",
            linkerSettings: [
                .linkedLibrary("meshtune"),
                .unsafeFlags(["-L", libDir, "-Xlinker", "-rpath", "-Xlinker", libDir]),
            ]
        ),
        // `scripts/test-swift.sh --bench`: FFI cost of ffiFloor / record / recordBatch.
        .executableTarget(
            name: "MeshTuneBench",
            dependencies: ["MeshTune"],
            path: "Sources/MeshTuneBench"
        ),
        .testTarget(
            name: "MeshTuneTests",
            dependencies: ["MeshTune"],
            path: "Tests/MeshTuneTests"
        ),
    ]
)
