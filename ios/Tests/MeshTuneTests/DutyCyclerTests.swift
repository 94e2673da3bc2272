// The duty-cycle runner, driven by a manual clock.
@testable import MeshTune
import XCTest

final class DutyCyclerTests: XCTestCase {
    private var calls: [String] = []
    private let scheduler = ManualScheduler()
    private lazy var cycler = DutyCycler(
        scheduler: scheduler,
        turnOn: { [unowned self] in self.calls.append("on") },
        turnOff: { [unowned self] in self.calls.append("off") }
    )

    func testDutyCycleAlternatesOnAndOffWithItsDelays() {
        cycler.run(.dutyCycled(onMs: 2_000, offMs: 28_000))
        XCTAssertEqual(calls, ["on"])
        XCTAssertTrue(cycler.isOn)
        XCTAssertEqual(scheduler.fireNext(), 2_000)
        XCTAssertEqual(calls, ["on", "off"])
        XCTAssertFalse(cycler.isOn)
        XCTAssertEqual(scheduler.fireNext(), 28_000)
        XCTAssertEqual(scheduler.fireNext(), 2_000)
        XCTAssertEqual(calls, ["on", "off", "on", "off"])
        XCTAssertEqual(scheduler.dueDelays, [28_000])
    }

    func testContinuousTurnsOnOnceAndSchedulesNothing() {
        cycler.run(.continuous)
        XCTAssertEqual(calls, ["on"])
        XCTAssertEqual(scheduler.dueDelays, [])
    }

    func testANewScheduleCancelsTheOldOneEvenIfItsTimerFiresLate() {
        cycler.run(.dutyCycled(onMs: 1_000, offMs: 1_000))
        cycler.run(.continuous)  // LowPower -> LowLatency
        XCTAssertEqual(calls, ["on", "on"], "the new schedule restarts the function (new scan options)")
        XCTAssertEqual(scheduler.dueDelays, [], "the old off-timer is cancelled")
        scheduler.fireNextIgnoringCancellation()  // a timer that fired anyway
        XCTAssertEqual(calls, ["on", "on"], "stale work does nothing")
        XCTAssertTrue(cycler.isOn)
    }

    func testStopTurnsOffOnlyWhenOn() {
        cycler.run(.dutyCycled(onMs: 1_000, offMs: 5_000))
        scheduler.fireNext()  // now off
        cycler.stop()
        XCTAssertEqual(calls, ["on", "off"], "already off: stop does not turn off twice")
        XCTAssertNil(cycler.schedule)
        scheduler.fireNextIgnoringCancellation()
        XCTAssertEqual(calls, ["on", "off"], "the pending on-timer is dead after stop")

        cycler.run(.continuous)
        cycler.stop()
        XCTAssertEqual(calls, ["on", "off", "on", "off"])
        XCTAssertFalse(cycler.isOn)
    }
}
