package com.example.meshapp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshtune.ActionEvent;
import dev.meshtune.ActionListener;
import dev.meshtune.MeshTuneJava;
import dev.meshtune.MeshtuneKt;
import dev.meshtune.MetricSample;
import dev.meshtune.OptimizerConfig;
import dev.meshtune.OptimizerException;
import dev.meshtune.OutcomeEvent;
import dev.meshtune.PerformanceOptimizer;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A Java app, written from the docs, doing what the Kotlin example of docs/android.md does: no reflection,
 * no Kotlin-only types.
 */
class JavaExampleTest {
    static final class Radio implements ActionListener {
        final LinkedBlockingQueue<ActionEvent> actions = new LinkedBlockingQueue<>();
        final CopyOnWriteArrayList<OutcomeEvent> outcomes = new CopyOnWriteArrayList<>();

        @Override
        public void onAction(ActionEvent event) {
            actions.add(event);
        }

        @Override
        public void onOutcome(OutcomeEvent event) {
            outcomes.add(event);
        }
    }

    @Test
    @Timeout(30)
    void aJavaAppConfiguresRecordsEverySampleReadsActionsAndCounters() throws Exception {
        // A configuration with defaults, changing two keys; a bad key is a typed error naming it.
        OptimizerConfig config = MeshtuneKt.optimizerConfigFromJson(
            "{\"target_p95_latency_ms\": 100, \"min_tick_interval_ms\": 10, \"max_tick_interval_ms\": 50, \"sample_process\": false}");
        OptimizerException.InvalidConfig bad = assertThrows(OptimizerException.InvalidConfig.class,
            () -> MeshtuneKt.optimizerConfigFromJson("{\"target_p95_latency_msx\": 1}"));
        assertTrue(bad.getMessage().contains("target_p95_latency_msx"), bad.getMessage());

        Radio radio = new Radio();
        PerformanceOptimizer optimizer = MeshtuneKt.startOptimizer(config, radio);
        try {
            // Every sample type that has unsigned fields, built from Java.
            optimizer.record(MeshTuneJava.messageLost(4));
            optimizer.record(MeshTuneJava.peerCount(3, 7));
            optimizer.record(MeshTuneJava.consensusRound(20.0, 30.0, 60.0, 8));
            for (int i = 0; i < 50; i++) {
                optimizer.record(MeshTuneJava.messageDelivered(500.0, 2, 100));
            }
            optimizer.record(new MetricSample.Battery(80.0, false));
            // Out of range for an unsigned field: an error that names it, before the core.
            IllegalArgumentException neg = assertThrows(IllegalArgumentException.class, () -> MeshTuneJava.messageDelivered(1.0, -1, 1));
            assertTrue(neg.getMessage().contains("MessageDelivered.hops"), neg.getMessage());

            // The slow mesh gets a repair: read the action's id and fields, acknowledge it.
            ActionEvent event = radio.actions.poll(20, TimeUnit.SECONDS);
            assertTrue(event != null, "no action");
            long id = MeshTuneJava.actionId(event);
            Map<String, Object> fields = MeshTuneJava.actionFields(event.getAction());
            assertTrue(fields.containsKey("kind"), fields.toString());
            // Still awaiting its acknowledgement (10 s by default): apply it, then acknowledge.
            assertTrue(MeshTuneJava.isActionCurrent(optimizer, id), "a fresh action is not current");
            MeshTuneJava.acknowledge(optimizer, id, true, null);
            assertFalse(MeshTuneJava.isActionCurrent(optimizer, id), "an answered action is still current");
            assertFalse(MeshTuneJava.isActionCurrent(optimizer, -1L));

            Map<String, Long> counters = MeshTuneJava.counters(optimizer.snapshot());
            assertEquals(54L, counters.get("samplesAccepted"), counters.toString());
            assertTrue(counters.get("actionsApplied") >= 1L, counters.toString());
            // The facade lists every counter the record has (checked here by reflection, which
            // the app never needs): a new counter in Rust fails this until it is added.
            java.util.Set<String> fieldNames = new java.util.TreeSet<>();
            for (java.lang.reflect.Field f : dev.meshtune.OptimizerCounters.class.getDeclaredFields()) {
                if (!java.lang.reflect.Modifier.isStatic(f.getModifiers())) fieldNames.add(f.getName());
            }
            assertEquals(fieldNames, new java.util.TreeSet<>(counters.keySet()));
            // The snapshot's other unsigned fields, by path.
            Map<String, Long> unsigned = MeshTuneJava.unsignedFields(optimizer.snapshot());
            assertEquals(50L, unsigned.get("metrics.meshPerformance.delivered"), unsigned.toString());
            assertEquals(0L, unsigned.get("metrics.meshPerformance.onTime"), "every message was late: " + unsigned);
            assertEquals(50L, unsigned.get("metrics.networkLatency.count"), unsigned.toString());
            assertTrue(unsigned.get("tickIntervalMs") > 0L, unsigned.toString());
            assertEquals(3L, unsigned.get("metrics.meshPerformance.connectedPeers"), unsigned.toString());
            assertEquals(7L, unsigned.get("metrics.meshPerformance.discoveredPeers"), unsigned.toString());
            assertEquals(1L, unsigned.get("metrics.meshPerformance.lost"), unsigned.toString());
            // A field with no data yet is there, as null.
            assertTrue(unsigned.containsKey("metrics.meshPerformance.connectionSetup.count")
                && unsigned.get("metrics.meshPerformance.connectionSetup.count") == null, unsigned.toString());
            // The app's actual radio state, from Java: actions with unsigned fields built by the facade.
            optimizer.reportState(java.util.List.of(
                MeshTuneJava.setScanMode(dev.meshtune.ScanMode.LOW_POWER, 2_000L, 28_000L),
                MeshTuneJava.setMaxConnections(4)));
            // One snapshot: the belief is the report, unless the engine has since asked for
            // another scan setting (then that action is pending and is the belief).
            dev.meshtune.OptimizerSnapshot afterReport = optimizer.snapshot();
            Map<String, Object> scanNow = MeshTuneJava.actionFields(afterReport.getProfile().get(0));
            boolean askedSince = afterReport.getPendingActions().stream()
                .anyMatch(a -> a.getAction() instanceof dev.meshtune.OptimizationAction.SetScanMode);
            assertTrue(askedSince || ("LOW_POWER".equals(scanNow.get("mode")) && Long.valueOf(28_000L).equals(scanNow.get("dutyOffMs"))),
                scanNow + " / " + afterReport.getPendingActions());
            assertTrue(MeshTuneJava.counters(optimizer.snapshot()).get("externalChanges") >= 1L);
            IllegalArgumentException badScan = assertThrows(IllegalArgumentException.class,
                () -> MeshTuneJava.setScanMode(dev.meshtune.ScanMode.LOW_POWER, -1L, 0L));
            assertTrue(badScan.getMessage().contains("SetScanMode.duty_on_ms"), badScan.getMessage());
        } finally {
            optimizer.stop();
        }
        // Every action got its outcome by stop(); Java reads the ids.
        for (OutcomeEvent o : radio.outcomes) {
            assertTrue(MeshTuneJava.outcomeActionId(o) > 0L, o.toString());
        }
        optimizer.close();
    }
}
