package dev.meshtune.harness

import dev.meshtune.OptimizerException
import dev.meshtune.startOptimizer
import dev.meshtune.use
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/** The learned state through the generated API: export, import, and a refused document. */
class LearnedStateTest {
    @Test
    @Timeout(20)
    fun `the learned state round trips and a corrupt document is refused naming its part`() {
        startOptimizer(fastConfig(), RecordingListener()).use { optimizer ->
            val saved = optimizer.exportLearnedState()
            assertTrue(saved.contains("\"format\":\"meshtune-learned-state\"") && saved.contains("\"version\":1"), saved)
            optimizer.importLearnedState(saved)
            assertEquals(saved, optimizer.exportLearnedState())

            val wrongVersion = saved.replace("\"version\":1", "\"version\":9")
            val e = assertFailsWith<OptimizerException.InvalidConfig> { optimizer.importLearnedState(wrongVersion) }
            assertEquals("learned_state.version", e.field)
            val badMove = saved.replace(
                "\"moves\":[]",
                "\"moves\":[{\"context\":\"foreground=true,battery=3,thermal=Nominal,power_save=false\",\"knob\":\"Nope\"," +
                    "\"improved\":1,\"no_effect\":0,\"worse\":0,\"inconclusive\":0,\"effect_points\":5.0}]",
            )
            val b = assertFailsWith<OptimizerException.InvalidConfig> { optimizer.importLearnedState(badMove) }
            assertEquals("learned_state.strategies.network", b.field)
            assertTrue(b.reason.startsWith("moves[0].knob"), b.reason)
            assertEquals(saved, optimizer.exportLearnedState(), "a refused document changed nothing")
            optimizer.stop()
            assertFailsWith<OptimizerException.Stopped> { optimizer.importLearnedState(saved) }
        }
    }
}
