package dev.meshtune.harness

import dev.meshtune.ActionEvent
import dev.meshtune.ActionListener
import dev.meshtune.MetricSample
import dev.meshtune.OptimizerConfig
import dev.meshtune.OptimizerCounters
import dev.meshtune.OutcomeEvent
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.fail

/** Ticks every 10–50 ms instead of 1–30 s, and no process sampling: tests see decisions fast. */
fun fastConfig(verificationWindowMs: ULong = 30_000uL, ackTimeoutMs: ULong = 10_000uL, sampleQueueCapacity: UInt = 16_384u, windowMs: ULong = 60_000uL) =
    OptimizerConfig(
        windowMs = windowMs,
        minTickIntervalMs = 10uL,
        maxTickIntervalMs = 50uL,
        sampleProcess = false,
        verificationWindowMs = verificationWindowMs,
        ackTimeoutMs = ackTimeoutMs,
        sampleQueueCapacity = sampleQueueCapacity,
    )

/** A slow delivery: far above the default 100 ms p95 target, so the network strategy acts. */
fun slowDelivery() = MetricSample.MessageDelivered(latencyMs = 500.0, hops = 2u, bytes = 100u)

/**
 * Polls [condition] every 5 ms until it holds; fails after [seconds]. A hang guard, not a
 * timing assertion: the bound is far above what any condition here needs.
 */
fun eventually(what: String, seconds: Long = 20, condition: () -> Boolean) {
    val deadline = System.nanoTime() + seconds * 1_000_000_000L
    while (!condition()) {
        if (System.nanoTime() > deadline) fail("never happened within ${seconds}s: $what")
        Thread.sleep(5)
    }
}

/** Checks the documented invariant of the counters. */
fun assertCountersBalance(c: OptimizerCounters) {
    kotlin.test.assertEquals(
        c.samplesOffered,
        c.samplesAccepted + c.samplesRejected + c.samplesDropped,
        "samplesOffered == samplesAccepted + samplesRejected + samplesDropped in $c",
    )
}

/** Keeps everything it is told, for the test thread to look at. */
class RecordingListener : ActionListener {
    val actions = LinkedBlockingQueue<ActionEvent>()
    val outcomes = CopyOnWriteArrayList<OutcomeEvent>()
    val callerThreads = CopyOnWriteArrayList<String>()

    override fun onAction(event: ActionEvent) {
        callerThreads += Thread.currentThread().name
        actions.put(event)
    }

    override fun onOutcome(event: OutcomeEvent) {
        callerThreads += Thread.currentThread().name
        outcomes += event
    }
}

/** Throws from every call, as a buggy app listener would. */
class ThrowingListener : ActionListener {
    val actionCalls = AtomicInteger()
    val outcomeCalls = AtomicInteger()

    override fun onAction(event: ActionEvent) {
        actionCalls.incrementAndGet()
        throw RuntimeException("app bug in onAction (action ${event.id})")
    }

    override fun onOutcome(event: OutcomeEvent) {
        outcomeCalls.incrementAndGet()
        throw RuntimeException("app bug in onOutcome")
    }
}

/** The id of the action an outcome is about (every variant has one). */
val OutcomeEvent.aboutAction: ULong
    get() = when (this) {
        is OutcomeEvent.Improved -> actionId
        is OutcomeEvent.NoEffect -> actionId
        is OutcomeEvent.Worse -> actionId
        is OutcomeEvent.Inconclusive -> actionId
        is OutcomeEvent.NotApplied -> actionId
        is OutcomeEvent.Superseded -> actionId
        is OutcomeEvent.Unacknowledged -> actionId
    }

/** This process's resident memory, from /proc/self/status (Linux), in KiB. */
fun vmRssKb(): Long = java.io.File("/proc/self/status").readLines()
    .first { it.startsWith("VmRSS:") }
    .removePrefix("VmRSS:").trim().removeSuffix("kB").trim().toLong()
