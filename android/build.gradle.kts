// MeshTune's Android library module: the AAR apps depend on.
//
// Before building, from the repository root:
//   scripts/build-android.sh        # cargo-ndk: libmeshtune.so for arm64-v8a, armeabi-v7a, x86_64
//                                   #   into android/src/main/jniLibs
//   scripts/generate-bindings.sh    # the uniffi Kotlin bindings into target/bindings/kotlin
//                                   #   (and the host libmeshtune.so the unit tests load)
// then, in android/:
//   gradle assembleRelease          # build/outputs/aar/meshtune-android-release.aar
//   gradle testReleaseUnitTest      # Robolectric tests against the host library
//   gradle publishReleasePublicationToLocalRepository   # build/repo (Maven layout)
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.4.21"
    `maven-publish`
}

group = "dev.meshtune"
version = "0.1.0"

val jnaVersion = "5.19.1"
val coroutinesVersion = "1.11.0"
val repoRoot = rootDir.parentFile
val generatedBindings = File(repoRoot, "target/bindings/kotlin")

android {
    namespace = "dev.meshtune.android"
    compileSdk = 35

    defaultConfig {
        // 23: ScanSettings.SCAN_MODE_OPPORTUNISTIC and runtime permissions; thermal needs 29 and
        // is skipped below it at run time.
        minSdk = 23
        // Keeps JNA and the generated dev.meshtune classes in apps that minify.
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            java.srcDirs(
                "src/main/kotlin", // the glue (collectors, applier, facade)
                generatedBindings, // uniffi output, generated, not committed
                File(repoRoot, "bindings/kotlin/src/main/kotlin"), // hand-written Kotlin beside the bindings
            )
            jniLibs.srcDirs("src/main/jniLibs") // scripts/build-android.sh output
        }
        getByName("test") {
            java.srcDirs("src/test/kotlin")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    testOptions {
        unitTests.all {
            // Robolectric tests call the real core: the host build of libmeshtune through JNA.
            it.systemProperty("jna.library.path", File(repoRoot, "target/release").absolutePath)
        }
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // uniffi's Kotlin calls the library through JNA; the AAR carries libjnidispatch.so per ABI.
    implementation("net.java.dev.jna:jna:$jnaVersion@aar")
    // MeshTune.actions / outcomes are Flows: part of this library's API.
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:$coroutinesVersion")

    // Unit tests run on the host JVM: the JNA jar (with the desktop libjnidispatch), Robolectric.
    testImplementation("net.java.dev.jna:jna:$jnaVersion")
    testImplementation("junit:junit:4.13.2")
    testImplementation("org.robolectric:robolectric:4.16")
    testImplementation("org.jetbrains.kotlin:kotlin-test-junit")
}

// A clear message instead of "unresolved reference" when the bindings were not generated.
val checkGeneratedBindings by tasks.registering {
    val marker = File(generatedBindings, "dev/meshtune/meshtune.kt")
    doLast {
        if (!marker.exists()) {
            throw GradleException("$marker is missing: run scripts/generate-bindings.sh from the repository root first")
        }
    }
}
tasks.named("preBuild") { dependsOn(checkGeneratedBindings) }

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "dev.meshtune"
            artifactId = "meshtune-android"
            version = project.version.toString()
            afterEvaluate { from(components["release"]) }
        }
    }
    repositories {
        // A Maven repository in build/repo; add your own (GitHub Packages, a company Nexus) here.
        maven {
            name = "local"
            url = uri(layout.buildDirectory.dir("repo"))
        }
    }
}
