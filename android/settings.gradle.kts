// Standalone Gradle build of the MeshTune Android library (the AAR). Apps depend on the
// published artifact, dev.meshtune:meshtune-android, or include this build
// (settings.gradle.kts: includeBuild("path/to/meshtune/android")).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "meshtune-android"
