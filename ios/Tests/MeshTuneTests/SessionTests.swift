// MeshTuneSession against the real core: start/stop, the streams, acknowledgements.
@testable import MeshTune
import XCTest

/// An applier that refuses everything, counting the calls.
final class RefusingApplier: ActionApplier, @unchecked Sendable {
    let reason: String
    let calls = Locked<[OptimizationAction]>([])
    init(reason: String) { self.reason = reason }
    func apply(_ action: OptimizationAction) -> ApplyResult {
        calls.mutate { $0.append(action) }
        return .notApplied(reason: reason)
    }
}

final class SessionTests: XCTestCase {
    func testStartRecordSnapshotStopEndsBothStreams() throws {
        let session = MeshTuneSession(config: fastConfig())
        XCTAssertNil(session.snapshot(), "no snapshot before start")
        XCTAssertFalse(session.record(.battery(levelPercent: 50, charging: false)), "record before start is refused")
        try session.start()
        XCTAssertTrue(session.isRunning)
        XCTAssertThrowsError(try session.start()) { XCTAssertEqual($0 as? MeshTuneSessionError, .alreadyStarted) }

        let actions = StreamCollector(session.actions) { session.acknowledge($0, .applied) }
        let outcomes = StreamCollector(session.outcomes)
        XCTAssertTrue(session.record(.battery(levelPercent: 80, charging: true)))
        XCTAssertFalse(session.record(.battery(levelPercent: 180, charging: true)), "an invalid sample is refused")
        XCTAssertThrowsError(try session.tryRecord(.battery(levelPercent: 180, charging: true))) { error in
            guard case let .InvalidSample(field, _)? = error as? OptimizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "Battery.level_percent")
        }
        let counters = try XCTUnwrap(session.snapshot()).counters
        XCTAssertEqual(counters.samplesAccepted, 1)
        XCTAssertEqual(counters.samplesRejected, 2)
        XCTAssertEqual(session.counters.samplesRefused, 2, "the one before start and the invalid one")

        session.stop()
        XCTAssertFalse(session.isRunning)
        XCTAssertTrue(waitUntil { actions.finished && outcomes.finished }, "stop() did not end the streams")
        session.stop()  // idempotent
        XCTAssertThrowsError(try session.start()) { XCTAssertEqual($0 as? MeshTuneSessionError, .stopped) }
        XCTAssertFalse(session.record(.appState(foreground: true)))
        XCTAssertNotNil(session.snapshot(), "the snapshot works after stop")
    }

    func testTheAppReportsItsStateAndABadReportChangesNothing() throws {
        let session = MeshTuneSession(config: fastConfig())
        let scan = OptimizationAction.setScanMode(mode: .lowPower, dutyOnMs: 2_000, dutyOffMs: 28_000)
        XCTAssertThrowsError(try session.reportState([scan])) { XCTAssertEqual($0 as? OptimizerError, .Stopped) }
        try session.start()
        defer { session.stop() }
        try session.reportState([scan])
        // One snapshot: the belief is the report, unless the engine has since asked for another
        // scan setting (that action is then pending, and is the belief).
        func believedOrAskedAgain() -> Bool {
            guard let s = session.snapshot() else { return false }
            return s.profile.first == scan
                || s.pendingActions.contains { if case .setScanMode = $0.action { return true } else { return false } }
        }
        XCTAssertTrue(believedOrAskedAgain())
        XCTAssertEqual(session.snapshot()?.counters.externalChanges, 1)
        XCTAssertThrowsError(
            try session.reportState([.setScanMode(mode: .balanced, dutyOnMs: 8_000, dutyOffMs: 2_000), .requestGarbageCollection])
        ) { error in
            guard case let .InvalidAction(field, _)? = error as? OptimizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "report_state.actual[1]")
        }
        XCTAssertTrue(believedOrAskedAgain(), "all or nothing: the refused report changed nothing")
        XCTAssertEqual(session.snapshot()?.counters.externalChanges, 1, "all or nothing")
        XCTAssertEqual(session.snapshot()?.unknownKnobs, [])
    }

    func testInvalidConfigIsThrownByStart() {
        let session = MeshTuneSession(config: OptimizerConfig(minTickIntervalMs: 0))
        XCTAssertThrowsError(try session.start()) { error in
            guard case .InvalidConfig? = error as? OptimizerError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(session.isRunning)
    }

    func testActionsArriveInOrderAndManualAcknowledgementIsCountedOnce() throws {
        let session = MeshTuneSession(config: fastConfig())
        try session.start()
        defer { session.stop() }
        let statuses = Locked<[AcknowledgementStatus]>([])
        let actions = StreamCollector(session.actions) { event in
            let first = session.acknowledge(event, .applied)
            let second = session.acknowledge(event, .applied)
            statuses.mutate { $0 += [first, second] }
        }
        for sample in slowDeliveries { session.record(sample) }
        XCTAssertTrue(waitUntil { (session.snapshot()?.counters.actionsApplied ?? 0) >= 2 }, "the core never saw two acknowledgements")
        let events = actions.elements
        XCTAssertGreaterThanOrEqual(events.count, 2)
        XCTAssertEqual(events.map(\.id), events.map(\.id).sorted(), "actions out of order")
        XCTAssertEqual(Set(events.map(\.id)).count, events.count, "an action was delivered twice")
        let seen = statuses.get()
        XCTAssertEqual(seen.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), Array(repeating: .reported, count: seen.count / 2))
        XCTAssertEqual(seen.enumerated().filter { $0.offset % 2 == 1 }.map(\.element), Array(repeating: .notPending, count: seen.count / 2))
        XCTAssertEqual(session.acknowledge(actionId: 999_999, .applied), .notPending, "an id this session never delivered")
        XCTAssertEqual(session.counters.acknowledgementFailures, 0)
    }

    func testARefusingApplierLeadsToNotAppliedOutcomesWithItsReason() throws {
        let applier = RefusingApplier(reason: "no radio on this test rig")
        let session = MeshTuneSession(config: fastConfig(), applier: applier)
        try session.start()
        defer { session.stop() }
        let actions = StreamCollector(session.actions)
        let outcomes = StreamCollector(session.outcomes)
        for sample in slowDeliveries { session.record(sample) }

        XCTAssertTrue(waitUntil { !outcomes.elements.isEmpty }, "no outcome arrived")
        let notApplied = outcomes.elements.compactMap { outcome -> (UInt64, String?)? in
            if case let .notApplied(actionId, detail) = outcome { return (actionId, detail) }
            return nil
        }
        XCTAssertFalse(notApplied.isEmpty, "outcomes: \(outcomes.elements)")
        for (_, detail) in notApplied { XCTAssertEqual(detail, "no radio on this test rig") }
        // Each refused action was applied-to once and published (for observation) once.
        XCTAssertTrue(
            waitUntil { notApplied.allSatisfy { Set(actions.elements.map(\.id)).contains($0.0) } },
            "an outcome for an action never published")
        XCTAssertTrue(
            waitUntil { applier.calls.get().count == actions.elements.count },
            "applied \(applier.calls.get().count), published \(actions.elements.count)")
        let counters = try XCTUnwrap(session.snapshot()).counters
        XCTAssertGreaterThanOrEqual(counters.actionsRefused, UInt64(notApplied.count))
        XCTAssertEqual(counters.actionsApplied, 0)
        // The applier already acknowledged: the app cannot acknowledge again.
        if let first = actions.elements.first {
            XCTAssertEqual(session.acknowledge(first, .applied), .notPending)
        }
    }

    func testActionsTheStreamCannotTakeAreRefusedForTheApp() throws {
        // A stream of one that nobody reads: the several actions of one tick overflow it, and each overflowing action is acknowledged as not applied at once.
        let session = MeshTuneSession(config: fastConfig(), streamCapacity: 1)
        try session.start()
        defer { session.stop() }
        for sample in slowDeliveries { session.record(sample) }
        XCTAssertTrue(waitUntil { session.counters.actionsNotDelivered >= 1 }, "nothing overflowed")
        XCTAssertTrue(waitUntil { (session.snapshot()?.counters.actionsRefused ?? 0) >= session.counters.actionsNotDelivered })
        XCTAssertEqual(session.counters.acknowledgementFailures, 0)

        // The overflowing actions' outcomes name the reason (the outcome stream also holds
        // one, so read it now: its first element is the oldest outcome).
        let outcomes = StreamCollector(session.outcomes)
        XCTAssertTrue(waitUntil { !outcomes.elements.isEmpty })
        guard case let .notApplied(_, detail)? = outcomes.elements.first else {
            return XCTFail("first outcome: \(String(describing: outcomes.elements.first))")
        }
        XCTAssertEqual(detail, "the app's action stream is full (1 actions buffered)")
    }

    func testAnActionTakenAfterItExpiredIsNotYieldedButAnsweredNotApplied() throws {
        // Acknowledgements time out after 200 ms; the app reads the stream only later.
        let session = MeshTuneSession(config: fastConfig(ackTimeoutMs: 200))
        try session.start()
        defer { session.stop() }
        let outcomes = StreamCollector(session.outcomes)
        for sample in slowDeliveries { session.record(sample) }
        XCTAssertTrue(
            waitUntil { outcomes.elements.contains { if case .unacknowledged = $0 { return true } else { return false } } },
            "no action timed out")
        let timedOut = Set(
            outcomes.elements.compactMap { o -> UInt64? in
                if case let .unacknowledged(actionId, _) = o { return actionId } else { return nil }
            })
        let actions = StreamCollector(session.actions) { session.acknowledge($0, .applied) }
        XCTAssertTrue(waitUntil { session.counters.actionsExpired >= 1 }, "no expired action was answered")
        XCTAssertTrue(
            actions.elements.allSatisfy { !timedOut.contains($0.id) },
            "an expired action was yielded: \(actions.elements.map(\.id)) timed out \(timedOut)")
        XCTAssertEqual(session.counters.acknowledgementFailures, 0)
    }

    func testAnActionThatExpiredBehindASlowApplierIsNotApplied() throws {
        final class SlowFirstApplier: ActionApplier, @unchecked Sendable {
            let calls = Locked(0)
            func apply(_ action: OptimizationAction) -> ApplyResult {
                var first = false
                calls.mutate {
                    first = $0 == 0
                    $0 += 1
                }
                if first { Thread.sleep(forTimeInterval: 0.6) }  // beyond the 200 ms timeout
                return .applied
            }
        }
        let applier = SlowFirstApplier()
        let session = MeshTuneSession(config: fastConfig(ackTimeoutMs: 200), applier: applier)
        try session.start()
        defer { session.stop() }
        // The memory strategy's safety actions come in one tick: those behind the first wait
        // 600 ms on the dispatcher, and have expired when their turn comes.
        session.record(.memoryPressure(level: .critical))
        XCTAssertTrue(waitUntil { session.counters.actionsExpired >= 1 }, "nothing expired behind the slow applier")
        XCTAssertTrue(
            waitUntil {
                UInt64(applier.calls.get()) + session.counters.actionsExpired == (session.snapshot()?.counters.actionsEmitted ?? 0)
            }, "applied \(applier.calls.get()), expired \(session.counters.actionsExpired)")
    }

    func testStopFromInsideTheApplierEndsTheSession() throws {
        final class StoppingApplier: ActionApplier, @unchecked Sendable {
            weak var session: MeshTuneSession?
            let stopped = Locked(false)
            func apply(_ action: OptimizationAction) -> ApplyResult {
                session?.stop()
                stopped.mutate { $0 = true }
                return .applied
            }
        }
        let applier = StoppingApplier()
        let session = MeshTuneSession(config: fastConfig(), applier: applier)
        applier.session = session
        try session.start()
        let actions = StreamCollector(session.actions)
        for sample in slowDeliveries { session.record(sample) }
        XCTAssertTrue(waitUntil { applier.stopped.get() }, "stop() inside the applier did not return")
        XCTAssertFalse(session.isRunning)
        XCTAssertTrue(waitUntil { actions.finished })
    }

    func testRouterSendsRadioKnobsToTheRadioAndRefusesWhatNobodyHandles() {
        let radio = RefusingApplier(reason: "radio")
        let app = ClosureApplier { action in
            if case .setMessageBatching = action { return .applied }
            return .notApplied(reason: "app: unsupported")
        }
        let router = ActionRouter(radio: radio, app: app)
        XCTAssertEqual(router.apply(.setScanMode(mode: .lowPower, dutyOnMs: 2_000, dutyOffMs: 28_000)), .notApplied(reason: "radio"))
        XCTAssertEqual(router.apply(.setMaxConnections(max: 4)), .notApplied(reason: "radio"))
        XCTAssertEqual(router.apply(.setMessageBatching(enabled: true, maxBatch: 8, maxDelayMs: 50)), .applied)
        XCTAssertEqual(router.apply(.requestGarbageCollection), .notApplied(reason: "app: unsupported"))
        XCTAssertEqual(radio.calls.get().count, 2)
        let radioOnly = ActionRouter(radio: radio, app: nil)
        XCTAssertEqual(radioOnly.apply(.trimCaches(percent: 30)), .notApplied(reason: "this app has no applier for cacheTrim"))
    }
}

final class LedgerTests: XCTestCase {
    func testEachDeliveredActionIsClaimedOnceAndOutcomesCloseIt() {
        var ledger = AcknowledgementLedger()
        XCTAssertFalse(ledger.claim(1), "never delivered")
        ledger.delivered(1)
        ledger.delivered(2)
        XCTAssertTrue(ledger.claim(1))
        XCTAssertFalse(ledger.claim(1))
        ledger.closed(2)  // an outcome: verified, not applied, ...
        XCTAssertFalse(ledger.claim(2))
        XCTAssertTrue(ledger.pending.isEmpty)
    }

    func testATimedOutActionTakesOneLateAcknowledgementForTheLast64() {
        var ledger = AcknowledgementLedger()
        for id in UInt64(1)...65 { ledger.delivered(id) }
        for id in UInt64(1)...65 { ledger.timedOut(id) }
        XCTAssertTrue(ledger.pending.isEmpty)
        XCTAssertFalse(ledger.claim(1), "the oldest beyond the 64 the core remembers")
        XCTAssertTrue(ledger.claim(2), "a late acknowledgement passes")
        XCTAssertFalse(ledger.claim(2), "once")
        XCTAssertTrue(ledger.claim(65))
        ledger.timedOut(999)  // never delivered: nothing to take
        XCTAssertFalse(ledger.claim(999))
        XCTAssertEqual(ledger.late.count, 62)
    }
}
