// The AsyncStream wrapper: order, bounded buffer, what it reports back, finishing.
@testable import MeshTune
import XCTest

final class EventChannelTests: XCTestCase {
    func testDeliversInOrderAcrossThreadsAndEndsOnFinish() {
        let channel = EventChannel<Int>(capacity: 10_000)
        let collector = StreamCollector(channel.stream)
        let producer = Thread {
            for i in 0..<5_000 {
                guard case .enqueued = channel.send(i) else { return }
            }
            channel.finish()
        }
        producer.start()
        XCTAssertTrue(waitUntil { collector.finished }, "the stream did not end after finish()")
        XCTAssertEqual(collector.elements, Array(0..<5_000))
    }

    func testAFullBufferKeepsTheOldestAndReportsEachDroppedElement() {
        let channel = EventChannel<Int>(capacity: 4)
        var dropped: [Int] = []
        for i in 0..<10 {
            switch channel.send(i) {
            case .enqueued: break
            case let .dropped(e): dropped.append(e)
            case .finished: XCTFail("finished early")
            }
        }
        XCTAssertEqual(dropped, [4, 5, 6, 7, 8, 9])
        channel.finish()
        let collector = StreamCollector(channel.stream)
        XCTAssertTrue(waitUntil { collector.finished })
        XCTAssertEqual(collector.elements, [0, 1, 2, 3], "buffered elements are still delivered after finish")
    }

    func testSendAfterFinishIsReported() {
        let channel = EventChannel<String>(capacity: 4)
        channel.finish()
        guard case let .finished(e) = channel.send("late") else { return XCTFail("a send after finish was taken") }
        XCTAssertEqual(e, "late")
    }
}
