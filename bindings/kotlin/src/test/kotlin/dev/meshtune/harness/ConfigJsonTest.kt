package dev.meshtune.harness

import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerException
import dev.meshtune.defaultOptimizerConfig
import dev.meshtune.optimizerConfigFromJson
import dev.meshtune.optimizerConfigToJson
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/** Remote configuration: JSON in, errors naming the key, and a lossless round trip. */
class ConfigJsonTest {

    @Test
    @Timeout(10)
    fun `a valid document sets its keys and keeps the other defaults`() {
        val config = optimizerConfigFromJson("{\"target_p95_latency_ms\": 80}")
        assertEquals(80.0, config.targetP95LatencyMs)
        assertEquals(OptimizerConfig().copy(targetP95LatencyMs = 80.0), config)
        assertEquals(OptimizerConfig(), optimizerConfigFromJson("{}"))
    }

    @Test
    @Timeout(10)
    fun `the Kotlin default arguments equal the Rust defaults`() {
        assertEquals(defaultOptimizerConfig(), OptimizerConfig())
    }

    @Test
    @Timeout(10)
    fun `invalid documents throw InvalidConfig naming the key`() {
        val cases = listOf(
            "{\"no_such_key\": 1}" to "no_such_key", // unknown key
            "{\"target_p95_latency_ms\": \"fast\"}" to "target_p95_latency_ms", // wrong type
            "{\"window_ms\": -5}" to "window_ms", // wrong type (unsigned)
            "{\"min_tick_interval_ms\": 5000, \"max_tick_interval_ms\": 1000}" to "min_tick_interval_ms", // min > max
            "{\"hysteresis_ratio\": 1.0}" to "hysteresis_ratio", // out of range
            "[1, 2]" to "(document)", // not an object
            "{\"window_ms\": " to "(document)", // not JSON
        )
        for ((json, key) in cases) {
            val e = assertFailsWith<OptimizerException.InvalidConfig>(json) { optimizerConfigFromJson(json) }
            assertEquals(key, e.field, "field for $json (reason: ${e.reason})")
            assertTrue(e.reason.isNotBlank())
        }
    }

    @Test
    @Timeout(10)
    fun `to JSON and back gives the same configuration`() {
        val config = OptimizerConfig(
            targetP95LatencyMs = 80.0,
            windowMs = 12_345uL,
            sampleProcess = false,
            sampleQueueCapacity = 16_777_216u,
            relayMinRssiBelowZeroDbm = 90u,
        )
        val json = optimizerConfigToJson(config)
        assertTrue(json.contains("\"window_ms\":12345"), json)
        assertEquals(config, optimizerConfigFromJson(json))
        assertEquals(OptimizerConfig(), optimizerConfigFromJson(optimizerConfigToJson(OptimizerConfig())))
    }
}
